// Auto-pull: a model no node has is pulled onto the eligible node with the most memory to
// offer (one pull per model, however many requests want it), then served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, simRequests, simState, eventually, fault } from './lib/harness.mjs';

let small;
let big;
let nodes;
before(async () => {
  const ss = await startSim(['--name', 'small', '--memory-gb', '16', '--model', 'llama3.2:1b=1.3', '--loaded', 'llama3.2:1b']);
  // big's pull of qwen3:8b takes about half a second: the three requests all wait for it.
  const sb = await startSim(['--name', 'big', '--memory-gb', '128', '--model', 'llama3.2:1b=1.3', '--pull-gbps', '0.01']);
  small = { name: 'small', url: ss.url };
  big = { name: 'big', url: sb.url };
  nodes = [small, big];
});

// The heartbeats say how much memory each node offers: big has the most.
const facts = { small: { memory: { total_gb: 16, available_gb: 10 } }, big: { memory: { total_gb: 128, available_gb: 100 } } };
const pulls = async (node) => (await simRequests(node.url)).filter((q) => q.path === '/api/pull').map((q) => q.body.model);

test('three requests for a missing model: one pull onto the roomiest node, then all are served', async () => {
  const herd = await startHerd();
  const loop = heartbeatLoop(herd, nodes, facts);
  await loop.ready;
  try {
    const req = () => postJson(`${herd.url}/api/chat`, { model: 'qwen3:8b', messages: [{ role: 'user', content: 'hi' }], stream: false });
    const rs = await Promise.all([req(), req(), req()]);
    for (const r of rs) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.headers.get('x-fleet-node'), 'big');
      assert.equal(r.body.model, 'qwen3:8b');
      assert.equal(r.headers.get('x-fleet-pulled'), 'qwen3:8b');
    }
    assert.deepEqual(await pulls(big), ['qwen3:8b']);
    assert.deepEqual(await pulls(small), []);
    const tags = (await getJson(`${big.url}/api/tags`)).body.models.map((m) => m.name);
    assert.ok(tags.includes('qwen3:8b'));
    const traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=3`)).body;
    assert.deepEqual(traces.map((t) => [t.status, t.node_id, t.model, t.auto_pulled]), Array(3).fill(['completed', 'big', 'qwen3:8b', true]));
    // A request for a model already there is not marked.
    const again = await postJson(`${herd.url}/api/chat`, { model: 'qwen3:8b', messages: [{ role: 'user', content: 'x' }], stream: false });
    assert.equal(again.headers.get('x-fleet-pulled'), null);
    assert.equal((await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0].auto_pulled, false);
  } finally {
    await loop.stop();
  }
});

test('a model the registry does not know: 404 in each API shape with the reason', async () => {
  const herd = await startHerd();
  const loop = heartbeatLoop(herd, nodes, facts);
  await loop.ready;
  try {
    const r = await postJson(`${herd.url}/api/generate`, { model: 'no-such-model', prompt: 'x' });
    assert.equal(r.status, 404);
    assert.match(r.body.error, /model 'no-such-model' not found, and pulling it onto big failed: pull model manifest: file does not exist/);
    const o = await postJson(`${herd.url}/v1/chat/completions`, { model: 'no-such-model', messages: [] });
    assert.equal(o.status, 404);
    assert.match(o.body.error.message, /not found/);
    const t = (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];
    assert.equal(t.status, 'failed');
  } finally {
    await loop.stop();
  }
});

test('a pull slower than FLEET_AUTO_PULL_TIMEOUT: 504, and the pull is cancelled', async () => {
  const slow = await startSim(['--name', 'slow', '--memory-gb', '64', '--model', 'llama3.2:1b=1.3', '--pull-gbps', '0.001']);
  const node = { name: 'slow', url: slow.url };
  const herd = await startHerd(['--auto-pull-timeout', '1']);
  const loop = heartbeatLoop(herd, [node]);
  await loop.ready;
  try {
    const t0 = Date.now();
    const r = await postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.status, 504);
    assert.match(r.body.error, /took longer than 1 s/);
    assert.ok(Date.now() - t0 < 5000);
    assert.deepEqual(await pulls(node), ['qwen2.5:7b']);
    // herd hung up on the node: its pull stops.
    await eventually(async () => (await simState(node.url)).pulls === 0);
  } finally {
    await loop.stop();
  }
});

test('FLEET_AUTO_PULL=false: 404 at once, nothing pulled', async () => {
  const herd = await startHerd(['--no-auto-pull']);
  const loop = heartbeatLoop(herd, nodes, facts);
  await loop.ready;
  try {
    const before = (await pulls(big)).length + (await pulls(small)).length;
    const r = await postJson(`${herd.url}/api/chat`, { model: 'mistral', messages: [] });
    assert.equal(r.status, 404);
    assert.match(r.body.error, /model 'mistral' not found/);
    assert.equal((await pulls(big)).length + (await pulls(small)).length, before);
  } finally {
    await loop.stop();
  }
});

test('a pull the node fails: 502 with its reason; a client that leaves while waiting is let go', async () => {
  const herd = await startHerd();
  const loop = heartbeatLoop(herd, nodes, facts);
  await loop.ready;
  try {
    await fault(big.url, { kind: 'fail', status: 500, message: 'disk full', path: '/api/pull', count: 1 });
    const r = await postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:14b', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.status, 502);
    assert.match(r.body.error, /pulling it onto big failed: .*disk full/);
    // The next request for it starts a new pull; its client leaves before the pull ends.
    const ctrl = new AbortController();
    const gone = postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:14b', messages: [] }, { signal: ctrl.signal }).catch((e) => e);
    await eventually(async () => (await simState(big.url)).pulls === 1);
    ctrl.abort();
    await gone;
    const t = await eventually(async () => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body.find((x) => x.status === 'client_disconnected'));
    assert.equal(t.model, 'qwen2.5:14b');
    // The pull itself goes on, and the model lands on the node.
    await eventually(async () => (await getJson(`${big.url}/api/tags`)).body.models.some((m) => m.name === 'qwen2.5:14b'), { timeoutMs: 10000 });
  } finally {
    await loop.stop();
  }
});

test('no node has the memory for the model: 404 saying so, nothing pulled', async () => {
  const herd = await startHerd();
  const loop = heartbeatLoop(herd, nodes, facts);
  await loop.ready;
  try {
    const before = (await pulls(big)).length + (await pulls(small)).length;
    const r = await postJson(`${herd.url}/api/generate`, { model: 'deepseek-r1:671b', prompt: 'x' });
    assert.equal(r.status, 404);
    assert.match(r.body.error, /no node has the memory to pull it \(about \d+/);
    assert.equal((await pulls(big)).length + (await pulls(small)).length, before);
  } finally {
    await loop.stop();
  }
});
