// The dashboard's JSON API against a simulated fleet with traffic: every figure is checked
// against the traces the same traffic produced.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, curl } from './lib/harness.mjs';

let herd;
let traces;
let loop;
after(() => loop?.stop());

const near = (a, b, what) => assert.ok(Math.abs(a - b) <= 0.11 + Math.abs(b) * 1e-9, `${what}: ${a} vs ${b}`);
const sum = (rows, f) => rows.reduce((s, r) => s + (r[f] > 0 ? r[f] : 0), 0);
const avg = (xs) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
const completedLatency = (rows) => avg(rows.filter((r) => r.status === 'completed').map((r) => r.latency_ms));

// What the API must say of a group of traces.
function expectFigures(got, rows, what) {
  assert.equal(got.requests, rows.length, `${what} requests`);
  assert.equal(got.completed, rows.filter((r) => r.status === 'completed').length, `${what} completed`);
  assert.equal(got.failed, rows.filter((r) => r.status === 'failed').length, `${what} failed`);
  assert.equal(got.prompt_tokens, sum(rows, 'prompt_tokens'), `${what} prompt tokens`);
  assert.equal(got.completion_tokens, sum(rows, 'completion_tokens'), `${what} completion tokens`);
  const lat = completedLatency(rows);
  if (lat === null) assert.equal(got.avg_latency_ms, null);
  else near(got.avg_latency_ms, lat, `${what} latency`);
}

before(async () => {
  const a = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:3b=2.0', '--loaded', 'qwen2.5:7b', '--loaded', 'llama3.2:3b']);
  const b = await startSim(['--name', 'b', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  herd = await startHerd(['--auto-pull=false']);
  loop = heartbeatLoop(herd, [{ name: 'a', url: a.url }, { name: 'b', url: b.url }]);
  await loop.ready;
  const chat = (model, extra = {}, headers = {}) => postJson(`${herd.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hello there' }], stream: false, ...extra }, { headers: { 'content-type': 'application/json', ...headers } });
  const sent = [];
  for (let i = 0; i < 6; i++) sent.push(chat('qwen2.5:7b', { metadata: { tags: ['app-a', 'nightly'] } }));
  for (let i = 0; i < 3; i++) sent.push(chat('llama3.2:3b', {}, { 'X-Herd-Tags': 'app-b, nightly' }));
  sent.push(postJson(`${herd.url}/v1/chat/completions`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], user: 'alice' }));
  sent.push(postJson(`${herd.url}/v1/chat/completions`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: true }));
  sent.push(chat('qwen2.5:7b')); // untagged
  sent.push(chat('missing-model:1b', { metadata: { tags: ['app-a'] } })); // fails: no node has it
  const replies = await Promise.all(sent);
  assert.equal(replies.filter((r) => r.status === 200).length, 12);
  traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=1000`)).body;
  assert.equal(traces.length, 13);
});

test('overview: totals of the last day, week and all time, and the fleet now', async () => {
  const r = await getJson(`${herd.url}/dashboard/api/overview`);
  assert.equal(r.status, 200);
  for (const w of ['last_24h', 'last_7d', 'all_time']) expectFigures(r.body[w], traces, w);
  assert.equal(r.body.all_time.models, new Set(traces.map((t) => t.model)).size);
  assert.equal(r.body.fleet.nodes_total, 2);
  assert.equal(r.body.fleet.nodes_online, 2);
  assert.ok(r.body.uptime_s > 0);
});

test('trends: one bucket per hour, the traffic in the current one', async () => {
  const r = await getJson(`${herd.url}/dashboard/api/trends?hours=48`);
  assert.equal(r.status, 200);
  assert.equal(r.body.buckets.length, 48);
  const hours = r.body.buckets.map((b) => b.hour);
  for (let i = 1; i < hours.length; i++) assert.equal(hours[i] - hours[i - 1], 3600);
  const byHour = new Map();
  for (const t of traces) {
    const h = Math.floor(t.timestamp / 3600) * 3600;
    byHour.set(h, [...(byHour.get(h) || []), t]);
  }
  for (const b of r.body.buckets) expectFigures(b, byHour.get(b.hour) || [], `hour ${b.hour}`);
  assert.equal(r.body.buckets.reduce((s, b) => s + b.requests, 0), traces.length);
});

test('models: per model, per node and per day', async () => {
  const r = await getJson(`${herd.url}/dashboard/api/models?days=7`);
  assert.equal(r.status, 200);
  const models = new Set(traces.map((t) => t.model));
  assert.equal(r.body.models.length, models.size);
  for (const m of r.body.models) {
    const rows = traces.filter((t) => t.model === m.model);
    expectFigures(m, rows, m.model);
    for (const n of m.nodes) expectFigures(n, rows.filter((t) => t.node_id === n.node_id), `${m.model} on ${n.node_id}`);
    assert.equal(m.nodes.reduce((s, n) => s + n.requests, 0), rows.length);
    assert.equal(m.daily.reduce((s, d) => s + d.requests, 0), rows.length);
    const done = rows.filter((t) => t.status === 'completed');
    if (done.length) {
      assert.equal(m.min_latency_ms, Math.round(Math.min(...done.map((t) => t.latency_ms)) * 10) / 10);
      const tokens = done.filter((t) => t.completion_tokens > 0);
      near(m.tokens_per_s, sum(tokens, 'completion_tokens') * 1000 / tokens.reduce((s, t) => s + t.latency_ms, 0), `${m.model} tokens/s`);
    }
  }
  assert.equal(r.body.models[0].model, 'qwen2.5:7b'); // the busiest first
});

test('usage: per day, node and model', async () => {
  const r = await getJson(`${herd.url}/dashboard/api/usage?days=1`);
  assert.equal(r.status, 200);
  const keys = new Set(traces.map((t) => `${t.node_id}|${t.model}`));
  assert.equal(r.body.usage.length, keys.size);
  for (const u of r.body.usage) {
    expectFigures(u, traces.filter((t) => t.node_id === u.node_id && t.model === u.model), `${u.node_id}/${u.model}`);
    assert.match(u.day, /^\d{4}-\d{2}-\d{2}$/);
  }
});

test('tags: from metadata.tags, X-Herd-Tags and the OpenAI user, each counted', async () => {
  for (const path of ['tags', 'apps']) {
    const r = await getJson(`${herd.url}/dashboard/api/${path}?days=7`);
    assert.equal(r.status, 200);
    const expected = new Map();
    for (const t of traces) for (const tag of t.tags || []) expected.set(tag, [...(expected.get(tag) || []), t]);
    assert.deepEqual(r.body.tags.map((x) => x.tag).sort(), [...expected.keys()].sort());
    assert.deepEqual([...expected.keys()].sort(), ['app-a', 'app-b', 'nightly', 'user:alice']);
    for (const x of r.body.tags) {
      expectFigures(x, expected.get(x.tag), `tag ${x.tag}`);
      assert.equal(x.daily.reduce((s, d) => s + d.requests, 0), x.requests);
    }
    assert.equal(r.body.tags.find((x) => x.tag === 'app-a').failed, 1);
    assert.equal(r.body.untagged, traces.filter((t) => !t.tags || !t.tags.length).length);
    assert.equal(r.body.untagged, 2);
  }
});

test('bad parameters get 400 in Ollama\'s error shape; every seed curl returns JSON', async () => {
  for (const q of ['trends?hours=0', 'trends?hours=abc', 'trends?hours=99999', 'models?days=0', 'usage?days=91', 'tags?days=', 'traces?limit=0']) {
    const r = await getJson(`${herd.url}/dashboard/api/${q}`);
    assert.equal(r.status, 400, q);
    assert.match(r.body.error, /must be a number from/, q);
  }
  for (const p of ['traces?limit=5', 'overview', 'trends?hours=72', 'models?days=7', 'usage?days=7', 'tags', 'apps',
    'health', 'recommendations', 'model-management', 'benchmarks', 'benchmarks/progress', 'settings']) {
    const r = await curl(['-f', `${herd.url}/dashboard/api/${p}`]);
    assert.equal(r.code, 0, p);
    JSON.parse(r.stdout);
  }
  // The seed's lines, verbatim but for the port.
  for (const p of ['"/dashboard/api/traces?limit=20"', '/dashboard/api/health', '/dashboard/api/recommendations', '/dashboard/api/usage', '/dashboard/api/model-management']) {
    const url = p.startsWith('"') ? `"${herd.url}${p.slice(1)}` : `${herd.url}${p}`;
    const r = spawnSync('bash', ['-c', `set -o pipefail; curl -s ${url} | python3 -m json.tool`], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${p}: ${r.stderr}`);
    assert.ok(r.stdout.length > 2, p);
  }
});

test('settings: a toggle changes behaviour at once, is refused when wrong, and survives a restart', async () => {
  const sim = await startSim(['--name', 's', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--registry', 'tiny:1b=0.5']);
  let h = await startHerd(['--auto-pull-timeout', '20']);
  const beats = heartbeatLoop(h, [{ name: 's', url: sim.url }]);
  await beats.ready;
  const ask = (model) => postJson(`${h.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hi' }], stream: false });

  let r = await getJson(`${h.url}/dashboard/api/settings`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.runtime, { auto_pull: true, vram_fallback: true, context_protection: 'strip', max_retries: 2, ollama: [] });
  const row = r.body.config.find((o) => o.name === 'auto-pull-timeout');
  assert.equal(row.source, 'flag');
  assert.ok(r.body.config.some((o) => o.name === 'port'));

  r = await postJson(`${h.url}/dashboard/api/settings`, { auto_pull: false, max_retries: 1 });
  assert.equal(r.status, 200);
  assert.equal(r.body.saved, true);
  assert.equal(r.body.runtime.auto_pull, false);
  assert.equal(r.body.runtime.max_retries, 1);
  // At once: a model nobody has is not pulled any more.
  r = await ask('tiny:1b');
  assert.equal(r.status, 404, JSON.stringify(r.body));
  assert.equal((await getJson(`${sim.url}/api/tags`)).body.models.some((m) => m.name.startsWith('tiny')), false);

  // Wrong changes are refused whole: nothing of them applies.
  for (const bad of [{ auto_pull: 'yes' }, { max_retries: 99 }, { context_protection: 'shred' }, { port: 1 }, [1], { auto_pull: true, max_retries: -1 }]) {
    r = await postJson(`${h.url}/dashboard/api/settings`, bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(typeof r.body.error, 'string');
  }
  r = await postJson(`${h.url}/dashboard/api/settings`, '{not json');
  assert.equal(r.status, 400);
  assert.equal((await getJson(`${h.url}/dashboard/api/settings`)).body.runtime.auto_pull, false);

  // A restart on the same data keeps the change, and says so in its log.
  await beats.stop();
  const dataDir = h.dataDir;
  assert.equal(await h.stop(), 0);
  h = await startHerd(['--data-dir', dataDir, '--console-log-level', 'info', '--auto-pull-timeout', '20']);
  const again = heartbeatLoop(h, [{ name: 's', url: sim.url }]);
  await again.ready;
  r = await getJson(`${h.url}/dashboard/api/settings`);
  assert.equal(r.body.runtime.auto_pull, false);
  assert.equal(r.body.runtime.max_retries, 1);
  assert.match(h.proc.stderrText, /settings changed on the dashboard .* apply over the configuration/);
  // Back on: the pull happens.
  await postJson(`${h.url}/dashboard/api/settings`, { auto_pull: true });
  r = await ask('tiny:1b');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get('x-fleet-pulled'), 'tiny:1b');
  await again.stop();
});

test('an older latency.db gets its hourly summaries built from its traces at start', async () => {
  const first = await startHerd();
  const dataDir = first.dataDir;
  assert.equal(await first.stop(), 0);
  const db = `${dataDir}/latency.db`;
  const now = Math.floor(Date.now() / 1000);
  const sql = [
    'DROP TRIGGER traces_rollup; DROP TABLE traces_hourly; DROP TABLE tags_hourly;',
    ...[0, 1, 2].map((i) => `INSERT INTO request_traces (request_id, model, original_model, node_id, status, latency_ms, time_to_first_token_ms, prompt_tokens, completion_tokens, timestamp, tags) VALUES ('old${i}', 'old:7b', 'old:7b', 'n${i % 2}', '${i === 2 ? 'failed' : 'completed'}', ${100 * (i + 1)}, 10, 5, 20, ${now - 7200 - i}, '["legacy"]');`),
  ].join('\n');
  const r = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const again = await startHerd(['--data-dir', dataDir]);
  const o = (await getJson(`${again.url}/dashboard/api/overview`)).body.all_time;
  assert.equal(o.requests, 3);
  assert.equal(o.failed, 1);
  assert.equal(o.avg_latency_ms, 150);
  const t = (await getJson(`${again.url}/dashboard/api/tags`)).body;
  assert.deepEqual(t.tags.map((x) => [x.tag, x.requests]), [['legacy', 3]]);
  // The trigger that keeps them for new traffic is back.
  const triggers = spawnSync('sqlite3', [db, "SELECT name FROM sqlite_master WHERE type = 'trigger'"], { encoding: 'utf8' });
  assert.match(triggers.stdout, /traces_rollup/);
});

test('health: checks from the nodes and the last hour of traffic, each with a fix, and a score', async () => {
  const a = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const b = await startSim(['--name', 'b', '--model', 'qwen2.5:7b=4.7']);
  const h = await startHerd();
  const facts = {
    a: { ollama_version: '0.12.6', memory: { pressure: 'warn' }, disk: { path: '/m', total_gb: 100, used_gb: 95, available_gb: 5 } },
    b: { ollama_version: '0.11.0', ollama: { ollama_up: false, models_loaded: [], models_available: [] } },
  };
  const beats = heartbeatLoop(h, [{ name: 'a', url: a.url }, { name: 'b', url: b.url }], facts);
  await beats.ready;
  let r = await getJson(`${h.url}/dashboard/api/health`);
  assert.equal(r.status, 200);
  const byId = (id, node) => r.body.checks.find((c) => c.check_id === id && (!node || c.node_id === node));
  assert.equal(byId('ollama_down', 'b').severity, 'critical');
  assert.equal(byId('memory_pressure', 'a').severity, 'warning');
  assert.equal(byId('disk_nearly_full', 'a').severity, 'warning');
  assert.equal(byId('version_mismatch').severity, 'warning');
  for (const c of r.body.checks) assert.ok(c.fix.length > 20 && c.title && c.description, JSON.stringify(c));
  assert.equal(r.body.score, 100 - 20 - 3 * 10);
  assert.equal(r.body.status, 'critical');
  assert.equal(r.body.vitals.nodes_online, 2);
  // Traffic: requests for a model nobody has fail; enough of them is a high error rate.
  for (let i = 0; i < 20; i++) await postJson(`${h.url}/api/chat`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: false });
  for (let i = 0; i < 5; i++) await postJson(`${h.url}/api/chat`, { model: 'nothing-here:1b', messages: [{ role: 'user', content: 'hi' }], stream: false });
  r = await getJson(`${h.url}/dashboard/api/health`);
  assert.equal(r.body.vitals.requests_last_hour, 25);
  near(r.body.vitals.error_rate, 0.2, 'error rate');
  assert.equal(byId('high_error_rate').severity, 'warning');
  await beats.stop();
});
