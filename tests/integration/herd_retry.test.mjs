// Automatic retry: a node that fails before its first chunk is left out and the next best node
// answers; headers and traces tell the truth. After the first chunk there is no retry.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, curl, fault, clearFaults, simRequests, eventually, sleep } from './lib/harness.mjs';

let herd;
let a;
let b;
let c;
let loop;
// Under the seven signals, a is the first choice whatever the others have loaded: fully
// available (+10) and hot; then b before c, since small models prefer smaller machines (role
// affinity).
const bandwidths = {
  a: { memory_bandwidth_gbps: 800, capacity: { mode: 'full', availability_score: 1 } },
  b: { memory_bandwidth_gbps: 100 },
  c: { memory_bandwidth_gbps: 400 },
};
const traces = async (n) => (await getJson(`${herd.url}/dashboard/api/traces?limit=${n}`)).body;
const chats = async (node) => (await simRequests(node.url)).filter((q) => q.path.endsWith('chat') || q.path.endsWith('completions')).length;
const body = (extra = {}) => ({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], ...extra });

before(async () => {
  const mk = async (name, args) => {
    const s = await startSim(['--name', name, '--model', 'qwen2.5:7b=4.7', ...args]);
    return { name, url: s.url, port: s.port, sim: s };
  };
  a = await mk('a', ['--loaded', 'qwen2.5:7b']); // hot: always first choice
  b = await mk('b', []);                          // cold: next
  c = await mk('c', []);
  // The order above is the seven signals'; herd's default (the predicted time to the first
  // token) would try the faster c before b. Retries are the same under either.
  herd = await startHerd(['--routing-policy', 'signals']);
  loop = heartbeatLoop(herd, [a, b, c], bandwidths);
  await loop.ready;
});
after(() => loop.stop());
beforeEach(async () => {
  await Promise.all([a, b, c].map((n) => clearFaults(n.url)));
  // The failures of one test eject a node for a while (its breaker); the next starts when
  // every node may be tried again.
  await eventually(async () => (await getJson(`${herd.url}/fleet/status`)).body.breakers.every((x) => x.state !== 'open'), { timeoutMs: 70000 });
  await Promise.all([a, b, c].map((n) => getJson(`${n.url}/_sim/requests`, { method: 'DELETE' })));
});

test('a 500 before the first chunk is retried on the next node; headers and traces tell the truth', async () => {
  await fault(a.url, { kind: 'fail', status: 500, message: 'runner crashed', count: 1 });
  const r = await postJson(`${herd.url}/api/chat`, body({ stream: false }));
  assert.equal(r.status, 200);
  assert.equal(r.body.done, true);
  assert.equal(r.headers.get('x-fleet-node'), 'b');
  assert.equal(r.headers.get('x-fleet-retries'), '1');
  const id = r.headers.get('x-fleet-request-id');
  const [last, first] = await eventually(async () => { const t = await traces(2); return t[0]?.request_id === id ? t : null; });
  assert.equal(first.request_id, id);
  assert.deepEqual([first.status, first.node_id, first.retry_count], ['retried', 'a', 0]);
  assert.match(first.error_message, /node a failed before its first chunk: HTTP 500: runner crashed/);
  assert.deepEqual([last.status, last.node_id, last.retry_count], ['completed', 'b', 1]);
  assert.deepEqual(last.excluded_nodes, ['a']);
  assert.equal(await chats(a), 1);
  assert.equal(await chats(b), 1);
});

test('a dropped connection and a refused one are retried too; streams are not disturbed', async () => {
  // No count: a connection that dies unused may be retried once by the HTTP client itself.
  await fault(a.url, { kind: 'drop', after: 0 });
  const r = await curl(['-N', '-i', `${herd.url}/api/chat`, '-d', JSON.stringify(body())]);
  await clearFaults(a.url);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /X-Fleet-Node: b/);
  assert.match(r.stdout, /X-Fleet-Retries: 1/);
  const lines = r.stdout.split('\r\n\r\n')[1].trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).done, true);
  assert.ok(lines.length > 10);

  await fault(a.url, { kind: 'fail', status: 503, message: 'busy', count: 1 });
  const openai = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const chunks = [];
  for await (const x of await openai.chat.completions.create({ ...body(), stream: true })) chunks.push(x);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('a node whose Ollama is down is left out for the next one', async () => {
  const d = await startSim(['--name', 'd', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const dn = { name: 'd', url: d.url };
  const { heartbeatFor, postHeartbeat } = await import('./lib/harness.mjs');
  // d claims the model hot on a fully available machine with the best role fit (it outscores
  // a), then its Ollama dies.
  await postHeartbeat(herd, await heartbeatFor(dn, { capacity: { mode: 'full', availability_score: 1 } }));
  await d.stop();
  after(() => postHeartbeat(herd, { node_id: 'd', draining: true }).catch(() => {}));
  const r = await postJson(`${herd.url}/api/generate`, { model: 'qwen2.5:7b', prompt: 'x', stream: false });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-retries'), '1');
  assert.notEqual(r.headers.get('x-fleet-node'), 'd');
  const [last, first] = await traces(2);
  assert.equal(first.node_id, 'd');
  assert.equal(first.status, 'retried');
  assert.match(first.error_message, /Could not connect|connect/i);
  assert.deepEqual(last.excluded_nodes, ['d']);
  // d is out of routing until it heartbeats again: the next request goes elsewhere at once.
  const st = (await getJson(`${herd.url}/fleet/status`)).body.nodes.find((n) => n.node_id === 'd');
  assert.equal(st.status, 'offline');
  const next = await postJson(`${herd.url}/api/generate`, { model: 'qwen2.5:7b', prompt: 'x', stream: false });
  assert.equal(next.status, 200);
  assert.equal(next.headers.get('x-fleet-retries'), '0');
  await postHeartbeat(herd, { node_id: 'd', draining: true });
});

test('no retry after the first chunk: the stream ends with an error in its own shape', async () => {
  await fault(a.url, { kind: 'drop', after: 3, count: 1 });
  const r = await curl(['-N', `${herd.url}/api/chat`, '-d', JSON.stringify(body())]);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.match(lines[3].error, /node a/);
  const t = (await traces(1))[0];
  assert.deepEqual([t.status, t.node_id, t.retry_count], ['incomplete', 'a', 0]);
  assert.equal(await chats(b), 0, 'b never saw it');
  await fault(a.url, { kind: 'drop', after: 2, count: 1 });
  const sse = await curl(['-N', `${herd.url}/v1/chat/completions`, '-d', JSON.stringify(body({ stream: true }))]);
  const events = sse.stdout.trim().split('\n\n').map((e) => e.replace(/^data: /, ''));
  assert.equal(events.length, 3);
  assert.match(JSON.parse(events[2]).error.message, /node a/);
});

test('retries stop at FLEET_MAX_RETRIES: the last node\'s answer is final', async () => {
  const h = await startHerd(['--max-retries', '1', '--routing-policy', 'signals']);
  const l = heartbeatLoop(h, [a, b, c], bandwidths);
  await l.ready;
  for (const n of [a, b, c]) await fault(n.url, { kind: 'fail', status: 500, message: `broken ${n.name}` });
  const r = await postJson(`${h.url}/api/chat`, body({ stream: false }));
  assert.equal(r.status, 500);
  assert.deepEqual(r.body, { error: 'broken b' });
  assert.equal(r.headers.get('x-fleet-retries'), '1');
  const o = await postJson(`${h.url}/v1/chat/completions`, body());
  assert.equal(o.status, 500);
  assert.equal(o.body.error.type, 'api_error');
  const t = (await getJson(`${h.url}/dashboard/api/traces?limit=4`)).body;
  assert.deepEqual(t.map((x) => x.status), ['failed', 'retried', 'failed', 'retried']);
  assert.deepEqual([t[0].node_id, t[0].retry_count], ['b', 1]);
  assert.deepEqual(t[0].excluded_nodes, ['a']);
  assert.equal(await chats(c), 0, 'the third node was never tried');
  // When the last attempt fails to connect at all, herd answers 502 naming every failure.
  await l.stop();
  const dead = await startSim(['--name', 'x', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const dead2 = await startSim(['--name', 'y', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const h2 = await startHerd(['--max-retries', '1']);
  const { heartbeatFor, postHeartbeat } = await import('./lib/harness.mjs');
  await postHeartbeat(h2, await heartbeatFor({ name: 'x', url: dead.url }));
  await postHeartbeat(h2, await heartbeatFor({ name: 'y', url: dead2.url }));
  await dead.stop();
  await dead2.stop();
  const g = await postJson(`${h2.url}/api/generate`, { model: 'qwen2.5:7b', prompt: 'x', stream: false });
  assert.equal(g.status, 502);
  assert.match(g.body.error, /^every node tried failed: [xy]: .*; node [xy]: /);
});

test('with one node left, a node\'s own error reaches the client unchanged', async () => {
  await fault(a.url, { kind: 'fail', status: 500, message: 'only a' });
  await fault(b.url, { kind: 'fail', status: 500, message: 'and b' });
  await fault(c.url, { kind: 'fail', status: 500, message: 'and c' });
  const r = await postJson(`${herd.url}/api/chat`, body({ stream: false }));
  // Two retries allowed: the first two nodes fail and are left out; the third is the last, and
  // its answer is final.
  assert.equal(r.status, 500);
  assert.equal(r.headers.get('x-fleet-retries'), '2');
  const last = r.headers.get('x-fleet-node');
  assert.deepEqual(r.body, { error: { a: 'only a', b: 'and b', c: 'and c' }[last] });
  assert.notEqual(last, 'a');
});
