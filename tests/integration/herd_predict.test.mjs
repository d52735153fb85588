// herd's default policy through the real programs: it predicts each node's time to first token
// (the wait for a slot, a cold load, the prefill) from the speeds it learns, and takes the
// lowest. A fast node without the model loaded wins over a slow one that has it exactly when
// its load is shorter than the wait on the slow one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, eventually, fault, clearFaults, simRequests } from './lib/harness.mjs';

const loops = [];
after(() => Promise.all(loops.map((l) => l.stop())));

const gen = (n, prompt = 'tell me') => ({ model: 'qwen2.5:7b', prompt, stream: false, options: { num_predict: n } });
const queue = async (herd, node) => (await getJson(`${herd.url}/fleet/queue`)).body.queues[`${node}:qwen2.5:7b`];

test('a fast cold node wins over a slow hot one exactly when its load is shorter than the wait there', async () => {
  // slow: loaded, one slot, 20 GB/s (about 3 tokens/s); fast: not loaded, 1 TB/s. herd knows
  // only what the heartbeats say until the first replies teach it the real speeds.
  const slow = await startSim(['--name', 'slow', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--bandwidth-gbps', '20'], { timeScale: '0.1' });
  const fast = await startSim(['--name', 'fast', '--model', 'qwen2.5:7b=4.7', '--bandwidth-gbps', '1000', '--disk-gbps', '10'], { timeScale: '0.1' });
  const herd = await startHerd();
  const facts = { slow: { memory_bandwidth_gbps: 20, ollama: { num_parallel: 1 } }, fast: { memory_bandwidth_gbps: 1000, ollama: { num_parallel: 1 } } };
  const loop = heartbeatLoop(herd, [{ name: 'slow', url: slow.url }, { name: 'fast', url: fast.url }], facts);
  loops.push(loop);
  await loop.ready;

  // Idle: a load (about 3 s) costs more than nothing: the hot node answers.
  const first = await postJson(`${herd.url}/api/generate`, gen(10));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-fleet-node'), 'slow');

  // A short request runs on slow (10 tokens: about 3.4 s, half of it still ahead when the next
  // comes): waiting for it is shorter than fast's load, so the next one queues on slow.
  const short = postJson(`${herd.url}/api/generate`, gen(10, 'short one'));
  await eventually(async () => (await queue(herd, 'slow'))?.in_flight === 1);
  const behindShort = postJson(`${herd.url}/api/generate`, gen(10, 'after the short one'));
  await eventually(async () => (await queue(herd, 'slow'))?.pending === 1);
  assert.equal((await short).headers.get('x-fleet-node'), 'slow');
  assert.equal((await behindShort).headers.get('x-fleet-node'), 'slow');

  // A long request runs on slow (200 tokens: about a minute): the wait is far longer than
  // fast's load, so the next one goes to fast and loads the model there.
  const long = postJson(`${herd.url}/api/generate`, gen(200, 'a long one'));
  await eventually(async () => (await queue(herd, 'slow'))?.in_flight === 1);
  const next = await postJson(`${herd.url}/api/generate`, gen(10, 'the next one'));
  assert.equal(next.status, 200);
  assert.equal(next.headers.get('x-fleet-node'), 'fast');
  assert.ok(next.body.load_duration > 0.5e9, `fast loaded the model (${next.body.load_duration} ns)`);
  assert.equal((await long).headers.get('x-fleet-node'), 'slow');

  // The traces carry the prediction each was routed on.
  const traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=10`)).body;
  const byId = Object.fromEntries(traces.map((t) => [t.request_id, t]));
  const moved = byId[next.headers.get('x-fleet-request-id')].scores_breakdown;
  assert.ok(moved.load_s > 1, JSON.stringify(moved));
  assert.equal(moved.queue_s, 0);
  assert.ok(Math.abs(moved.predicted_ttft_s - moved.load_s - moved.prefill_s) < 1e-6);
  const queued = byId[(await behindShort).headers.get('x-fleet-request-id')].scores_breakdown;
  assert.ok(queued.queue_s > 0 && queued.load_s === 0, JSON.stringify(queued));
  assert.ok(queued.queue_s < moved.load_s, 'it waited because the wait was the shorter');
});

test('a node that fails three times in a row is ejected, probed after a backoff, and re-admitted', async () => {
  // bad is the faster node, so every request goes there first while it is admitted.
  const bad = await startSim(['--name', 'bad', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--bandwidth-gbps', '1000']);
  const good = await startSim(['--name', 'good', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--bandwidth-gbps', '100']);
  const herd = await startHerd();
  const facts = { bad: { memory_bandwidth_gbps: 1000 }, good: { memory_bandwidth_gbps: 100 } };
  const loop = heartbeatLoop(herd, [{ name: 'bad', url: bad.url }, { name: 'good', url: good.url }], facts);
  loops.push(loop);
  await loop.ready;
  const seen = async (sim) => (await simRequests(sim.url)).filter((q) => q.path === '/api/generate').length;
  const breakers = async () => (await getJson(`${herd.url}/fleet/status`)).body.breakers;
  assert.equal((await postJson(`${herd.url}/api/generate`, gen(5))).headers.get('x-fleet-node'), 'bad');

  await fault(bad.url, { kind: 'fail', status: 500, message: 'gpu fell off the bus' });
  for (let i = 0; i < 3; i++) {
    const r = await postJson(`${herd.url}/api/generate`, gen(5));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-node'), 'good');
    assert.equal(r.headers.get('x-fleet-retries'), '1'); /* bad was tried first */
  }
  assert.equal(await seen(bad), 4);
  const [open] = await breakers();
  assert.deepEqual([open.node_id, open.model, open.state, open.failures], ['bad', 'qwen2.5:7b', 'open', 3]);
  assert.ok(open.retry_in_s > 0 && open.retry_in_s <= 1);
  // Ejected: requests go to good without trying bad.
  const r = await postJson(`${herd.url}/api/generate`, gen(5));
  assert.equal(r.headers.get('x-fleet-retries'), '0');
  assert.equal(r.headers.get('x-fleet-node'), 'good');
  assert.equal(await seen(bad), 4);

  // bad is mended; after its backoff one request probes it, and it is admitted again.
  await clearFaults(bad.url);
  await eventually(async () => (await breakers())[0]?.state === 'half_open', { timeoutMs: 3000 });
  const probe = await postJson(`${herd.url}/api/generate`, gen(5));
  assert.equal(probe.headers.get('x-fleet-node'), 'bad');
  assert.deepEqual(await breakers(), []);
  assert.equal((await postJson(`${herd.url}/api/generate`, gen(5))).headers.get('x-fleet-node'), 'bad');
});

test('GET /fleet/route shows the ranking and the prediction for a model and a prompt size, sending nothing', async () => {
  const slow = await startSim(['--name', 'slow', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--bandwidth-gbps', '20']);
  const fast = await startSim(['--name', 'fast', '--model', 'qwen2.5:7b=4.7', '--bandwidth-gbps', '1000']);
  const herd = await startHerd();
  const facts = { slow: { memory_bandwidth_gbps: 20 }, fast: { memory_bandwidth_gbps: 1000 } };
  const loop = heartbeatLoop(herd, [{ name: 'slow', url: slow.url }, { name: 'fast', url: fast.url }], facts);
  loops.push(loop);
  await loop.ready;
  const before = (await simRequests(slow.url)).length + (await simRequests(fast.url)).length;
  const ask = async (q) => getJson(`${herd.url}/fleet/route?${q}`);
  // A short prompt: the hot node, however slow, answers first.
  const small = (await ask('model=qwen2.5:7b&prompt_tokens=20&max_tokens=10')).body;
  assert.equal(small.outcome, 'go');
  assert.equal(small.node_id, 'slow');
  assert.deepEqual(small.ranking.map((n) => n.node_id), ['slow', 'fast']);
  const [s, f] = small.ranking.map((n) => n.scores_breakdown);
  assert.equal(s.load_s, 0);
  assert.ok(f.load_s > 1);
  assert.ok(s.predicted_ttft_s < f.predicted_ttft_s);
  // A long prompt: its prefill at 20 GB/s costs more than fast's load and prefill.
  const big = (await ask('model=qwen2.5:7b&prompt_tokens=20000&max_tokens=10')).body;
  assert.equal(big.node_id, 'fast');
  assert.ok(big.ranking[0].scores_breakdown.predicted_ttft_s < big.ranking[1].scores_breakdown.predicted_ttft_s);
  // Nothing went to the nodes; bad questions get 400.
  assert.equal((await simRequests(slow.url)).length + (await simRequests(fast.url)).length, before);
  assert.equal((await ask('prompt_tokens=5')).status, 400);
  assert.equal((await ask('model=qwen2.5:7b&prompt_tokens=x')).status, 400);
  const none = (await ask('model=nothing:1b')).body;
  assert.equal(none.outcome, 'pull'); // no node has it: auto-pull (on by default) would fetch it
  assert.equal(none.why, "model 'nothing:1b' not found");
});

test('a throttled node loses its share as soon as its replies show it, and regains it once it is fast again', async () => {
  // Two equal nodes, one slot each, share the work. Then one becomes ten times slower.
  const mk = (name) => startSim(['--name', name, '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--bandwidth-gbps', '200'], { timeScale: '0.02' });
  const hot = await mk('hot');
  const cool = await mk('cool');
  const herd = await startHerd([], { env: { FLEET_ROUTING_EXPLORE: '0.02' } });
  const facts = { hot: { memory_bandwidth_gbps: 200, ollama: { num_parallel: 1 } }, cool: { memory_bandwidth_gbps: 200, ollama: { num_parallel: 1 } } };
  const loop = heartbeatLoop(herd, [{ name: 'hot', url: hot.url }, { name: 'cool', url: cool.url }], facts);
  loops.push(loop);
  await loop.ready;
  const share = async (n) => {
    const nodes = [];
    for (let i = 0; i < n; i++) nodes.push((await postJson(`${herd.url}/api/generate`, gen(20, `q${i}`))).headers.get('x-fleet-node'));
    return nodes.filter((x) => x === 'hot').length / n;
  };
  const even = await share(20);
  assert.ok(even > 0.3 && even < 0.7, `equal nodes share the work (${even})`);
  await fault(hot.url, { kind: 'slow', factor: 10 });
  await share(4); // the next replies from hot show it slow
  const throttled = await share(30);
  assert.ok(throttled < 0.15, `the throttled node gets little (${throttled})`);
  // Mended: an exploring request (2% here) or a wait on cool measures it again, and it is
  // believed at once.
  await clearFaults(hot.url);
  const regained = await eventually(async () => {
    const s = await share(20);
    return s > 0.3 ? s : null;
  }, { timeoutMs: 60000, intervalMs: 0 });
  assert.ok(regained > 0.3);
});
