// Machines without an agent: herd --ollama polls an Ollama itself and routes to it like any
// node. It gets its share of traffic, its listings are Ollama's own, what only an agent can
// know stays unknown, it leaves when it stops answering and rejoins when it is back, and a
// herd-node reporting the same Ollama later takes it over without a duplicate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, startNode, heartbeatLoop, postJson, getJson, eventually, fleetNode } from './lib/harness.mjs';

let herd;
let mac; // an Ollama herd polls
let linux; // a machine with herd-node (heartbeats built by the test)
let loop;
let macPort;
after(() => loop?.stop());

const chat = () => postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: false });
const nodeIds = async () => (await getJson(`${herd.url}/fleet/status`)).body.nodes.map((n) => n.node_id).sort();

before(async () => {
  mac = await startSim(['--name', 'mac', '--model', 'qwen2.5:7b=4.7', '--model', 'gemma3:4b=3.3', '--loaded', 'qwen2.5:7b']);
  macPort = mac.port;
  linux = await startSim(['--name', 'linux', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  herd = await startHerd(['--ollama', `mac-studio=${mac.url}`, '--heartbeat-timeout', '0.6', '--heartbeat-offline', '1', '--routing-policy', 'round_robin']);
  loop = heartbeatLoop(herd, [{ name: 'linux', url: linux.url }]);
  await loop.ready;
  await eventually(async () => (await fleetNode(herd.url, 'mac-studio'))?.status === 'online', { timeoutMs: 5000 });
});

test('a polled Ollama is a node: its models, its own listings, nothing invented', async () => {
  const node = await fleetNode(herd.url, 'mac-studio');
  assert.equal(node.polled, true);
  assert.equal(node.ollama_url, mac.url);
  assert.equal(node.agent_version, 'none (polled by herd)');
  assert.deepEqual(node.ollama.models_available.map((m) => m.name).sort(), ['gemma3:4b', 'qwen2.5:7b']);
  assert.deepEqual(node.ollama.models_loaded.map((m) => m.name), ['qwen2.5:7b']);
  assert.match(node.ollama.version, /\d+\.\d+/);
  // What only an agent can tell is absent, not zero.
  for (const k of ['memory', 'cpu', 'gpus', 'thermal']) assert.equal(node[k], undefined, k);
  assert.ok(node.models_vram_gb > 0, 'the memory its loaded models hold, from size_vram');
  // The fleet's list has the Ollama's own entry for its models.
  const tags = (await getJson(`${herd.url}/api/tags`)).body.models;
  const own = (await getJson(`${mac.url}/api/tags`)).body.models.find((m) => m.name === 'gemma3:4b');
  await eventually(async () => (await getJson(`${herd.url}/api/tags`)).body.models.find((m) => m.name === 'gemma3:4b')?.digest === own.digest);
  assert.ok(tags.some((m) => m.name === 'gemma3:4b' && m.fleet_nodes.includes('mac-studio')));
});

test('it receives its share of the traffic', async () => {
  const replies = [];
  for (let i = 0; i < 8; i++) replies.push(await chat());
  assert.ok(replies.every((r) => r.status === 200));
  const by = {};
  for (const r of replies) by[r.headers.get('x-fleet-node')] = (by[r.headers.get('x-fleet-node')] || 0) + 1;
  assert.ok(by['mac-studio'] >= 2, JSON.stringify(by));
  assert.ok(by.linux >= 2, JSON.stringify(by));
  // A model only it has goes to it.
  const g = await postJson(`${herd.url}/api/generate`, { model: 'gemma3:4b', prompt: 'hi', stream: false });
  assert.equal(g.status, 200);
  assert.equal(g.headers.get('x-fleet-node'), 'mac-studio');
});

test('it leaves the fleet when it stops answering, and rejoins when it is back', async () => {
  await mac.stop('SIGKILL');
  await eventually(async () => (await fleetNode(herd.url, 'mac-studio')).status === 'offline', { timeoutMs: 5000 });
  for (let i = 0; i < 4; i++) {
    const r = await chat();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-node'), 'linux');
  }
  mac = await startSim(['--name', 'mac', '--port', String(macPort), '--model', 'qwen2.5:7b=4.7', '--model', 'gemma3:4b=3.3', '--loaded', 'qwen2.5:7b']);
  // Polls back off while it is down (up to a minute): it is back within a few intervals here.
  await eventually(async () => (await fleetNode(herd.url, 'mac-studio')).status === 'online', { timeoutMs: 15000 });
  assert.deepEqual(await nodeIds(), ['linux', 'mac-studio']);
});

test('a herd-node that reports the same Ollama takes the node over, with no duplicate', async () => {
  const agent = await startNode({ ollama: mac.url, router: herd.url, nodeId: 'mac-agent' });
  await eventually(async () => (await nodeIds()).join() === 'linux,mac-agent', { timeoutMs: 10000 });
  const tags = (await getJson(`${herd.url}/api/tags`)).body.models;
  assert.deepEqual(tags.find((m) => m.name === 'gemma3:4b').fleet_nodes, ['mac-agent']);
  // The agent's heartbeats carry what herd's polls could not.
  assert.ok((await fleetNode(herd.url, 'mac-agent')).memory);
  // When the agent goes away, herd polls the Ollama again.
  await agent.stop('SIGKILL');
  await eventually(async () => (await nodeIds()).includes('mac-studio') && (await fleetNode(herd.url, 'mac-studio')).status === 'online', { timeoutMs: 15000 });
});

test('the dashboard\'s setting adds and removes Ollamas to poll, at once', async () => {
  const win = await startSim(['--name', 'win', '--model', 'phi4:latest=9.1']);
  const list = (await getJson(`${herd.url}/dashboard/api/settings`)).body.runtime.ollama;
  assert.deepEqual(list, [`mac-studio=${mac.url}`]);
  const bad = await postJson(`${herd.url}/dashboard/api/settings`, { ollama: [...list, 'gaming-pc=ftp://x'] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /must start with http/);
  const dup = await postJson(`${herd.url}/dashboard/api/settings`, { ollama: [...list, `mac-studio=${win.url}`] });
  assert.equal(dup.status, 400);
  assert.match(dup.body.error, /given twice/);
  const added = await postJson(`${herd.url}/dashboard/api/settings`, { ollama: [...list, `gaming-pc=${win.url}`] });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal(added.body.saved, true);
  await eventually(async () => (await fleetNode(herd.url, 'gaming-pc'))?.status === 'online', { timeoutMs: 5000 });
  assert.ok((await getJson(`${herd.url}/api/tags`)).body.models.some((m) => m.name === 'phi4:latest'));
  // Removed from the list: it leaves the fleet now; the others go on.
  const removed = await postJson(`${herd.url}/dashboard/api/settings`, { ollama: list });
  assert.equal(removed.status, 200);
  assert.ok(!(await nodeIds()).includes('gaming-pc'));
  assert.ok(!(await getJson(`${herd.url}/api/tags`)).body.models.some((m) => m.name === 'phi4:latest'));
  assert.ok((await nodeIds()).includes('mac-studio'));
});

test('with node enrollment on, only the admin adds an Ollama to poll', async () => {
  const guarded = await startHerd(['--node-secret', 'a-node-secret-of-some-length']);
  const refused = await postJson(`${guarded.url}/dashboard/api/settings`, { ollama: [`intruder=${linux.url}`] });
  assert.equal(refused.status, 403);
  assert.match(refused.body.error, /node enrollment is on/);
  assert.deepEqual((await getJson(`${guarded.url}/dashboard/api/settings`)).body.runtime.ollama, []);
  // Other settings stay open as before (no keys are set).
  assert.equal((await postJson(`${guarded.url}/dashboard/api/settings`, { max_retries: 1 })).status, 200);
  await guarded.stop();
});

test('a malformed --ollama is refused at start', async () => {
  await assert.rejects(startHerd(['--ollama', 'ftp://nowhere']), /must start with http:\/\/ or https:\/\//);
  await assert.rejects(startHerd(['--ollama', 'a b=http://127.0.0.1:1']), /cannot name a node/);
});
