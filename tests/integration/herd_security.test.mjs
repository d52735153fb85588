// API keys, the admin key, signed heartbeats and the audit log: what is refused, in which
// shape, and what is recorded, seen from real clients (ollama, openai, curl, sqlite3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startSim, startHerd, startNode, heartbeatFor, getJson, postJson, curl, simRequests, eventually, tempDir, sleep, BUILD } from './lib/harness.mjs';

const SECRET = 'fleet-secret-for-tests-0123456789';
const KEY_ONE = 'key-one-0123456789abcdef';
const KEY_TWO = 'key-two-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const sha = (s) => createHash('sha256').update(s).digest('hex');

let sim;
let herd;
let keysFile;
let keyThree;
let beating;

// A heartbeat signed as the documented format says: HMAC-SHA-256 over "v1\n<ts>\n<body>".
function signed(body, { secret = SECRET, ts = Date.now() } = {}) {
  const text = JSON.stringify(body);
  const mac = createHmac('sha256', secret).update(`v1\n${ts}\n${text}`).digest('hex');
  return { text, headers: { 'content-type': 'application/json', 'x-herd-timestamp': String(ts), 'x-herd-signature': `v1=${mac}` } };
}
const sendBeat = ({ text, headers }) => fetch(`${herd.url}/heartbeat`, { method: 'POST', headers, body: text }).then(async (r) => ({ status: r.status, body: await r.json() }));
const audit = () => readFileSync(join(herd.dataDir, 'logs', 'audit.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const bearer = (k) => ({ authorization: `Bearer ${k}` });
const fleetNode = async (url, id) => ((await getJson(`${url}/fleet/status`, { headers: bearer(KEY_ONE) })).body.nodes || []).find((n) => n.node_id === id);

before(async () => {
  sim = await startSim(['--name', 'alpha', '--model', 'qwen2.5:7b=4.7', '--model', 'nomic-embed-text=0.27', '--loaded', 'qwen2.5:7b']);
  sim.name = 'alpha';
  // The keys file holds what herd --new-key prints.
  const made = spawnSync(join(BUILD, 'herd'), ['--new-key', 'app-three'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const lines = made.stdout.trim().split('\n').map((l) => l.trim());
  keyThree = lines[1];
  assert.match(keyThree, /^herd_[0-9a-f]{48}$/);
  assert.equal(lines[3], `app-three:sha256:${sha(keyThree)}`);
  keysFile = join(tempDir(), 'keys');
  writeFileSync(keysFile, `# client keys\n${lines[3]}\n`);
  herd = await startHerd(['--api-keys', `app-one:${KEY_ONE},app-two:sha256:${sha(KEY_TWO)}`, '--api-keys-file', keysFile,
    '--admin-key', ADMIN, '--node-secret', SECRET]);
  const beat = async () => { const r = await sendBeat(signed(await heartbeatFor(sim))); if (r.status !== 200) throw new Error(JSON.stringify(r.body)); };
  await beat();
  const t = setInterval(() => beat().catch(() => {}), 150);
  beating = { stop: () => clearInterval(t) };
});
after(() => beating.stop());

test('without a key: 401 in the Ollama and the OpenAI shape; the open paths stay open', async () => {
  const chat = { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: false };
  const o = await fetch(`${herd.url}/api/chat`, { method: 'POST', body: JSON.stringify(chat) });
  assert.equal(o.status, 401);
  assert.equal(o.headers.get('www-authenticate'), 'Bearer realm="herd"');
  assert.match((await o.json()).error, /needs an API key/);
  const v = await fetch(`${herd.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat) });
  assert.equal(v.status, 401);
  const vb = await v.json();
  assert.equal(vb.error.type, 'authentication_error');
  assert.match(vb.error.message, /needs an API key/);
  const wrong = await fetch(`${herd.url}/api/tags`, { headers: bearer('not-a-key-at-all') });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error, 'invalid API key');
  // The official clients see the error as they would from a real server.
  await assert.rejects(new Ollama({ host: herd.url }).list(), (e) => e.status_code === 401 && /needs an API key/.test(e.message));
  await assert.rejects(new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 }).models.list(),
    (e) => e.status === 401 && e.error.type === 'authentication_error');
  for (const path of ['/dashboard/api/overview', '/fleet/status', '/dashboard/events'])
    assert.equal((await fetch(`${herd.url}${path}`)).status, 401, path);
  for (const path of ['/', '/api/version', '/dashboard', '/dashboard/static/app.js'])
    assert.equal((await fetch(`${herd.url}${path}`)).status, 200, path);
  assert.equal((await simRequests(sim.url)).filter((q) => q.path === '/api/chat').length, 0, 'nothing reached the node');
});

test('with a key: served, and the key\'s name recorded as the trace\'s app', async () => {
  const openai = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: KEY_ONE, maxRetries: 0 });
  const c = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(c.choices[0].message.content.length > 0);
  const ollama = new Ollama({ host: herd.url, headers: bearer(KEY_TWO) });
  const r = await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.done, true);
  const e = await curl(['-s', '-H', `Authorization: Bearer ${keyThree}`, '-d', '{"model":"nomic-embed-text","input":"x"}', `${herd.url}/api/embed`]);
  assert.equal(JSON.parse(e.stdout).embeddings.length, 1);
  // herd's key stays with herd: the node never sees it.
  for (const q of await simRequests(sim.url)) assert.equal(q.headers.authorization, undefined, q.path);
  const traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=10`, { headers: bearer(KEY_ONE) })).body;
  assert.deepEqual(traces.slice(0, 3).map((t) => t.app).sort(), ['app-one', 'app-three', 'app-two']);
  const db = spawnSync('sqlite3', [join(herd.dataDir, 'latency.db'), 'SELECT app, count(*) FROM request_traces GROUP BY app ORDER BY app'], { encoding: 'utf8' });
  assert.equal(db.stdout.trim(), 'app-one|1\napp-three|1\napp-two|1');
});

test('admin actions are refused without the admin key, and every one is audited', async () => {
  const patch = { auto_pull: false };
  const asClient = await postJson(`${herd.url}/dashboard/api/settings`, patch, { headers: bearer(KEY_ONE) });
  assert.equal(asClient.status, 403);
  assert.match(asClient.body.error, /needs the admin key/);
  assert.equal((await postJson(`${herd.url}/dashboard/api/settings`, patch)).status, 401);
  for (const [path, body] of [['/dashboard/api/pull', { model: 'llama3.2:1b', node_id: 'alpha' }], ['/dashboard/api/delete', { model: 'qwen2.5:7b', node_id: 'alpha' }],
    ['/dashboard/api/benchmarks/start', { duration: 5 }]])
    assert.equal((await postJson(`${herd.url}${path}`, body, { headers: bearer(KEY_TWO) })).status, 403, path);
  assert.equal((await getJson(`${herd.url}/dashboard/api/settings`, { headers: bearer(KEY_ONE) })).status, 200, 'reads are for every key');
  assert.equal((await getJson(`${herd.url}/dashboard/api/settings`, { headers: bearer(KEY_ONE) })).body.runtime.auto_pull, true, "nothing changed");
  const ok = await postJson(`${herd.url}/dashboard/api/settings`, patch, { headers: bearer(ADMIN) });
  assert.equal(ok.status, 200);
  assert.equal((await getJson(`${herd.url}/dashboard/api/settings`, { headers: bearer(ADMIN) })).body.runtime.auto_pull, false);
  const pulled = await curl(['-s', '-H', `Authorization: Bearer ${ADMIN}`, '-d', '{"model":"llama3.2:1b","node_id":"alpha","stream":false}', `${herd.url}/dashboard/api/pull`]);
  assert.equal(JSON.parse(pulled.stdout).status, 'success');
  const lines = await eventually(() => { const a = audit(); return a.some((l) => l.path === '/dashboard/api/pull' && l.event === 'admin_action') && a; });
  const refused = lines.filter((l) => l.event === 'auth_refused' && l.path.startsWith('/dashboard/api/'));
  assert.ok(refused.some((l) => l.who === 'app-one' && l.status === 403 && l.path === '/dashboard/api/settings' && l.from === '127.0.0.1'));
  assert.ok(refused.some((l) => l.who === null && l.status === 401 && l.method === 'POST'));
  assert.equal(refused.filter((l) => l.who === 'app-two').length, 3);
  const done = lines.filter((l) => l.event === 'admin_action');
  assert.deepEqual(done.map((l) => [l.who, l.path, l.outcome, l.status]), [
    ['admin', '/dashboard/api/settings', 'ok', 200], ['admin', '/dashboard/api/pull', 'ok', 200]]);
  assert.deepEqual(done[1].detail, { model: 'llama3.2:1b', node_id: 'alpha', stream: false });
  assert.match(done[0].ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  // Reads with a wrong key are refused and audited too.
  assert.ok(lines.some((l) => l.event === 'auth_refused' && l.path === '/api/tags' && l.reason === 'invalid API key'));
});

test('Ollama\'s model management through herd needs the admin key, and is audited', async () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const calls = [['POST', '/api/pull', { model: 'llama3.2:1b' }], ['DELETE', '/api/delete', { model: 'qwen2.5:7b' }],
    ['POST', '/api/copy', { source: 'qwen2.5:7b', destination: 'sec-copy' }], ['POST', '/api/create', { model: 'x', from: 'qwen2.5:7b' }],
    ['POST', '/api/push', { model: 'qwen2.5:7b' }], ['HEAD', `/api/blobs/${digest}`], ['POST', `/api/blobs/${digest}`, 'data']];
  for (const [method, path, body] of calls) {
    const init = { method, headers: bearer(KEY_ONE), body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) };
    assert.equal((await fetch(`${herd.url}${path}`, init)).status, 403, `${method} ${path} with a client key`);
    assert.equal((await fetch(`${herd.url}${path}`, { ...init, headers: {} })).status, 401, `${method} ${path} without a key`);
  }
  const ok = await fetch(`${herd.url}/api/copy`, { method: 'POST', headers: bearer(ADMIN), body: JSON.stringify({ source: 'qwen2.5:7b', destination: 'sec-copy' }) });
  assert.equal(ok.status, 200);
  const line = await eventually(() => audit().find((l) => l.event === 'admin_action' && l.path === '/api/copy'));
  assert.deepEqual([line.who, line.outcome, line.status], ['admin', 'ok', 200]);
  assert.deepEqual(line.detail, { source: 'qwen2.5:7b', destination: 'sec-copy' });
  assert.equal(audit().filter((l) => l.event === 'auth_refused' && l.who === 'app-one' && /^\/api\/(pull|delete|copy|create|push|blobs)/.test(l.path)).length, calls.length);
});

test('heartbeats: unsigned, wrong MAC, stale and replayed ones are refused; signed ones join', async () => {
  const body = { ...(await heartbeatFor(sim)), node_id: 'intruder' };
  const unsigned = await postJson(`${herd.url}/heartbeat`, body);
  assert.equal(unsigned.status, 401);
  assert.match(unsigned.body.error, /not signed/);
  const wrong = await sendBeat(signed(body, { secret: 'another-secret-0123456789' }));
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.error, /signature does not match/);
  const tampered = signed(body);
  tampered.text = tampered.text.replace('intruder', 'intruded');
  assert.equal((await sendBeat(tampered)).status, 401);
  const stale = await sendBeat(signed(body, { ts: Date.now() - 120000 }));
  assert.equal(stale.status, 401);
  assert.match(stale.body.error, /too far from the coordinator's clock/);
  assert.equal(await fleetNode(herd.url, 'intruder'), undefined);
  assert.equal(await fleetNode(herd.url, 'intruded'), undefined);

  const good = signed({ ...body, node_id: 'friend' });
  assert.equal((await sendBeat(good)).status, 200);
  assert.ok(await fleetNode(herd.url, 'friend'));
  const replay = await sendBeat(good);
  assert.equal(replay.status, 401);
  assert.match(replay.body.error, /already received/);
  // An older heartbeat of the same node, never seen before, is a replay too.
  const older = await sendBeat(signed({ ...body, node_id: 'friend' }, { ts: Number(good.headers['x-herd-timestamp']) - 1000 }));
  assert.equal(older.status, 401);
  const refusals = audit().filter((l) => l.event === 'heartbeat_refused');
  assert.deepEqual(refusals.map((l) => l.who), ['intruder', 'intruder', 'intruded', 'intruder', 'friend', 'friend']);
  assert.ok(refusals.every((l) => l.from === '127.0.0.1' && l.status === 401 && l.reason));
  const log = readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8');
  assert.match(log, /heartbeat from 127\.0\.0\.1 \(claiming node intruder\) refused/);
});

test('herd-node with the fleet secret joins; with another secret it is refused', async () => {
  const friend = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'agent-good', args: ['--node-secret', SECRET] });
  const foe = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'agent-bad', args: ['--node-secret', 'not-the-fleet-secret-000'] });
  await eventually(async () => (await fleetNode(herd.url, 'agent-good'))?.status === 'online', { timeoutMs: 8000 });
  await eventually(() => audit().some((l) => l.event === 'heartbeat_refused' && l.who === 'agent-bad'), { timeoutMs: 8000 });
  assert.equal(await fleetNode(herd.url, 'agent-bad'), undefined);
  await friend.stop();
  await foe.stop();
});

test('the keys file is read again when it changes', async () => {
  const fresh = 'key-four-0123456789abcdef';
  assert.equal((await fetch(`${herd.url}/api/tags`, { headers: bearer(fresh) })).status, 401);
  appendFileSync(keysFile, `app-four:sha256:${sha(fresh)}\n`);
  await eventually(async () => (await fetch(`${herd.url}/api/tags`, { headers: bearer(fresh) })).status === 200, { timeoutMs: 8000, intervalMs: 250 });
  // A broken file keeps the keys that were valid.
  appendFileSync(keysFile, 'app-five:in-clear-0123456789\n');
  await sleep(5500);
  assert.equal((await fetch(`${herd.url}/api/tags`, { headers: bearer(fresh) })).status, 200);
  assert.match(readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8'), /keys file changed but is not valid; the previous keys stay: .*line 4: key 'app-five' is written in clear/);
});

test('herd refuses to start with a bad key, a clear-text keys file or a short secret', async () => {
  const bad = tempDir();
  const kf = join(bad, 'keys');
  writeFileSync(kf, 'someone:in-clear-0123456789\n');
  for (const [args, why] of [[['--api-keys', 'nocolon'], /NAME:KEY/], [['--api-keys', 'a:short'], /too short/],
    [['--api-keys-file', kf], /line 1: key 'someone' is written in clear/], [['--node-secret', 'short'], /node secret is too short/],
    [['--api-keys', `x:${KEY_ONE},x:${KEY_TWO}`], /used twice/]]) {
    const r = spawnSync(join(BUILD, 'herd'), ['--port', '0', '--data-dir', bad, '--no-mdns', ...args], { encoding: 'utf8', env: { ...process.env, FLEET_ENV_FILE: '/nonexistent' }, timeout: 5000 });
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, why);
  }
});
