// The holding queue: a request no node can take yet waits, in order and without polling, and
// goes the moment a node can take it; at the deadline it gets 503 (or 404).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatFor, postHeartbeat, postJson, getJson, eventually } from './lib/harness.mjs';

const req = { model: 'qwen2.5:7b', prompt: 'x', stream: false };

test('just restarted: a request waits for the first heartbeat, then is served', async () => {
  const s = await startSim(['--name', 'late', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd(['--hold-timeout', '20']);
  const t0 = Date.now();
  const pending = postJson(`${herd.url}/api/generate`, req);
  await new Promise((r) => setTimeout(r, 400));
  await postHeartbeat(herd, await heartbeatFor({ name: 'late', url: s.url }));
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-node'), 'late');
  assert.ok(Date.now() - t0 >= 400, 'it waited for the node');
  assert.ok(Date.now() - t0 < 10000, 'and went as soon as the node came');
});

test('all nodes draining: waits, then 503 at the deadline; the wait is bounded', async () => {
  const s = await startSim(['--name', 'd', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd(['--hold-timeout', '0.5', '--max-queue', '2']);
  await postHeartbeat(herd, await heartbeatFor({ name: 'd', url: s.url }));
  await postHeartbeat(herd, { node_id: 'd', draining: true });
  const t0 = Date.now();
  const waiting = [postJson(`${herd.url}/api/generate`, req), postJson(`${herd.url}/v1/completions`, { model: 'qwen2.5:7b', prompt: 'x' })];
  await new Promise((r) => setTimeout(r, 100));
  // Past the bound: 503 at once.
  const over = await postJson(`${herd.url}/api/generate`, req);
  assert.equal(over.status, 503);
  assert.ok(Date.now() - t0 < 450);
  const [a, b] = await Promise.all(waiting);
  assert.ok(Date.now() - t0 >= 500);
  assert.equal(a.status, 503);
  assert.match(a.body.error, /no node can serve model 'qwen2.5:7b' now \(d: offline\); waited 0 s/);
  assert.equal(b.status, 503);
  assert.equal(b.body.error.type, 'api_error');
  const t = (await getJson(`${herd.url}/dashboard/api/traces?limit=2`)).body;
  assert.ok(t.every((x) => x.status === 'failed'));
  // The node comes back: a new request is served at once.
  await postHeartbeat(herd, await heartbeatFor({ name: 'd', url: s.url }));
  assert.equal((await postJson(`${herd.url}/api/generate`, req)).status, 200);
});

test('a held request goes the moment its node returns, in arrival order', async () => {
  const s = await startSim(['--name', 'r', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd(['--hold-timeout', '20']);
  await postHeartbeat(herd, await heartbeatFor({ name: 'r', url: s.url }));
  await postHeartbeat(herd, { node_id: 'r', draining: true });
  const order = [];
  const waiting = [1, 2, 3].map(async (i) => {
    const r = await postJson(`${herd.url}/api/generate`, { ...req, prompt: `p${i}` });
    order.push(i);
    return r;
  });
  await new Promise((r) => setTimeout(r, 200));
  await postHeartbeat(herd, await heartbeatFor({ name: 'r', url: s.url }));
  const results = await Promise.all(waiting);
  assert.ok(results.every((r) => r.status === 200));
  assert.deepEqual(order, [1, 2, 3]);
});

test('an unknown model in a known fleet is 404 at once; a client that leaves while held is let go', async () => {
  const s = await startSim(['--name', 'k', '--model', 'qwen2.5:7b=4.7']);
  const herd = await startHerd(['--hold-timeout', '20']);
  await postHeartbeat(herd, await heartbeatFor({ name: 'k', url: s.url }));
  const t0 = Date.now();
  const r = await postJson(`${herd.url}/api/generate`, { ...req, model: 'nope' });
  assert.equal(r.status, 404);
  assert.ok(Date.now() - t0 < 2000);
  await postHeartbeat(herd, { node_id: 'k', draining: true });
  const ctrl = new AbortController();
  const gone = postJson(`${herd.url}/api/generate`, req, { signal: ctrl.signal }).catch((e) => e);
  await new Promise((r2) => setTimeout(r2, 200));
  ctrl.abort();
  await gone;
  const t = await eventually(async () => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0]);
  assert.equal(t.status, 'client_disconnected');
});

test("a draining node's requests not yet started move to another node; the running one finishes there", async () => {
  // busy writes 400-token replies, slowly (about 1.3 s each).
  const busy = await startSim(['--name', 'busy', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '400-400'], { timeScale: '0.1' });
  const spare = await startSim(['--name', 'spare', '--model', 'qwen2.5:7b=4.7']);
  // The seven signals keep the short requests queued behind the long one on busy (hot beats
  // cold); herd's default policy would predict spare's cold load to be quicker and send them
  // there at once. What is tested is what happens to a queue when its node drains.
  const herd = await startHerd(['--hold-timeout', '20', '--routing-policy', 'signals']);
  await postHeartbeat(herd, await heartbeatFor({ name: 'busy', url: busy.url }));
  await postHeartbeat(herd, await heartbeatFor({ name: 'spare', url: spare.url }, { memory: { total_gb: 16, available_gb: 8 } }));
  // One request runs on busy (one slot); two more queue behind it there.
  const long = postJson(`${herd.url}/api/generate`, req);
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.queues['busy:qwen2.5:7b']?.in_flight === 1);
  const short = [1, 2].map((i) => postJson(`${herd.url}/api/generate`, { ...req, prompt: `s${i}` }));
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.queues['busy:qwen2.5:7b']?.pending === 2);
  await postHeartbeat(herd, { node_id: 'busy', draining: true });
  const moved = await Promise.all(short);
  for (const r of moved) {
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-node'), 'spare');
    assert.equal(r.headers.get('x-fleet-retries'), '0');
  }
  const q = (await getJson(`${herd.url}/fleet/queue`)).body.queues['busy:qwen2.5:7b'];
  assert.equal(q.pending, 0);
  const l = await long;
  assert.equal(l.status, 200);
  assert.equal(l.headers.get('x-fleet-node'), 'busy');
  assert.equal(l.body.eval_count, 400);
  const t = (await getJson(`${herd.url}/dashboard/api/traces?limit=3`)).body;
  assert.deepEqual(t.map((x) => [x.node_id, x.status]).sort(), [['busy', 'completed'], ['spare', 'completed'], ['spare', 'completed']]);
});

test('a held request with fallback_models goes when a node with one of them comes', async () => {
  const s = await startSim(['--name', 'fb', '--model', 'mistral:latest=4.1', '--loaded', 'mistral']);
  const herd = await startHerd(['--hold-timeout', '20']);
  const pending = postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:7b', fallback_models: ['mistral'], messages: [{ role: 'user', content: 'x' }], stream: false });
  await new Promise((r) => setTimeout(r, 300));
  await postHeartbeat(herd, await heartbeatFor({ name: 'fb', url: s.url }));
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-fallback'), 'mistral:latest');
  assert.equal(r.body.model, 'mistral:latest');
});
