// herd-node, the real agent, between a real herd and herd-sim nodes on loopback: what the
// heartbeats carry, and what happens when the simulator, the coordinator or the agent goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, hostname } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import {
  startSim, startHerd, startNode, fleetNode, getJson, postJson, simRequests, eventually, sleep, BUILD,
} from './lib/harness.mjs';

const GIB = 1024 ** 3;
const chat = (model = 'qwen2.5:7b') => ({ model, messages: [{ role: 'user', content: 'hi' }], stream: false });
const lines = (node, re) => node.log().filter((l) => re.test(l.msg));

test('heartbeats carry the machine and the simulator\'s models', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:3b=2.0', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd();
  const node = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'box-a', args: ['--num-parallel', '3'] });
  const n = await eventually(async () => {
    const e = await fleetNode(herd.url, 'box-a');
    return e && e.cpu?.utilization_pct !== undefined && e;
  });
  // The machine, as the operating system tells it.
  assert.equal(n.cpu.cores_logical, cpus().length);
  assert.ok(n.cpu.utilization_pct >= 0 && n.cpu.utilization_pct <= 100);
  assert.ok(Math.abs(n.memory.total_gb - totalmem() / GIB) < 0.05, `memory ${n.memory.total_gb}`);
  assert.ok(n.memory.used_gb > 0 && n.memory.available_gb > 0);
  assert.ok(['normal', 'warn', 'critical'].includes(n.memory.pressure));
  assert.equal(n.disk.path, node.dataDir);
  assert.ok(n.disk.total_gb > 0 && n.disk.available_gb <= n.disk.total_gb);
  assert.equal(n.agent_version, '0.1.0');
  assert.equal(n.draining, false);
  // The simulator's models, from its own /api/ps and /api/tags.
  const ps = (await getJson(`${sim.url}/api/ps`)).body.models.map((m) => m.name);
  const tags = (await getJson(`${sim.url}/api/tags`)).body.models.map((m) => m.name).sort();
  assert.equal(n.ollama.ollama_up, true);
  assert.deepEqual(n.ollama.models_loaded.map((m) => m.name), ps);
  assert.ok(n.ollama.models_loaded[0].context_length > 0);
  assert.deepEqual(n.ollama.models_available.map((m) => m.name).sort(), tags);
  assert.equal(n.ollama_version, (await getJson(`${sim.url}/api/version`)).body.version);
  assert.equal(n.ollama.num_parallel, 3);
  assert.equal(n.parallel, 3); // the coordinator uses the reported slots
  assert.equal(n.status, 'online');
  // A request through herd reaches the node the agent announced, at the address it reported.
  const r = await postJson(`${herd.url}/api/chat`, chat());
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-node'), 'box-a');
  assert.equal((await simRequests(sim.url)).filter((x) => x.path === '/api/chat').length, 1);
});

test('the simulator dies: ollama_up false, no models, no routing, logged once; it returns', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd(['--hold-timeout', '0.3', '--auto-pull=false']);
  const node = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'box-a' });
  await eventually(async () => (await fleetNode(herd.url, 'box-a'))?.ollama?.ollama_up === true);
  await sim.stop('SIGKILL');
  const down = await eventually(async () => {
    const e = await fleetNode(herd.url, 'box-a');
    return e?.ollama?.ollama_up === false && e;
  });
  assert.deepEqual(down.ollama.models_loaded, []);
  assert.deepEqual(down.ollama.models_available, []);
  // Its only node has no model while its Ollama is down: nowhere to send the chat.
  const r = await postJson(`${herd.url}/api/chat`, chat());
  assert.equal(r.status, 404, JSON.stringify(r.body));
  assert.equal(r.body.error, "model 'qwen2.5:7b' not found");
  await sleep(1500); // several more beats
  assert.equal((await fleetNode(herd.url, 'box-a')).status, 'online'); // beats keep coming
  assert.equal(lines(node, /does not answer/).length, 1);
  // Back on the same port: models again, and one line saying so.
  await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--port', String(sim.port)]);
  await eventually(async () => (await fleetNode(herd.url, 'box-a'))?.ollama?.models_loaded?.length === 1);
  assert.equal((await postJson(`${herd.url}/api/chat`, chat())).status, 200);
  assert.equal(lines(node, /is up/).length, 2);
});

// A stand-in Ollama that misbehaves in one way: 'hang' accepts and never answers, 'garbage'
// answers 200 with text that is not JSON, 'huge' sends /api/tags larger than the agent accepts.
function badOllama(mode) {
  const server = createServer((req, res) => {
    if (mode === 'hang') return; // never answers
    if (mode === 'garbage') return res.end('<html>not json</html>');
    if (req.url === '/api/tags') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"models":[');
      const entry = JSON.stringify({ name: 'x'.repeat(200), size: 1 });
      for (let i = 0; i < 50000; i++) res.write(`${i ? ',' : ''}${entry}`); // about 10 MB
      return res.end(']}');
    }
    if (req.url === '/api/ps') return res.end('{"models":[{"name":"m:1b","size":1000000000}]}');
    return res.end('{"version":"0.12.6"}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => { server.closeAllConnections(); server.close(); } })));
}

for (const mode of ['hang', 'garbage']) {
  test(`an Ollama that ${mode === 'hang' ? 'never answers' : 'answers garbage'} is reported down, and beats keep their pace`, async () => {
    const ollama = await badOllama(mode);
    const herd = await startHerd();
    const node = await startNode({ ollama: ollama.url, router: herd.url, nodeId: 'box-a', interval: 1 });
    const n = await eventually(() => fleetNode(herd.url, 'box-a'), { timeoutMs: 5000 });
    assert.equal(n.ollama.ollama_up, false);
    assert.deepEqual(n.ollama.models_loaded, []);
    const t0 = n.timestamp;
    await sleep(3500);
    const later = await fleetNode(herd.url, 'box-a');
    assert.ok(later.timestamp - t0 >= 2, `beats stalled: ${later.timestamp - t0} s`);
    assert.equal(later.status, 'online');
    assert.equal(lines(node, /does not answer/).length, 1);
    ollama.close();
  });
}

test('a /api/tags larger than the agent accepts is refused, not buffered', async () => {
  const ollama = await badOllama('huge');
  const herd = await startHerd();
  const node = await startNode({ ollama: ollama.url, router: herd.url, nodeId: 'box-a', interval: 1 });
  const n = await eventually(() => fleetNode(herd.url, 'box-a'), { timeoutMs: 5000 });
  // /api/ps answered: Ollama is up with its loaded model; the oversized list is not reported.
  assert.equal(n.ollama.ollama_up, true);
  assert.deepEqual(n.ollama.models_loaded.map((m) => m.name), ['m:1b']);
  assert.deepEqual(n.ollama.models_available, []);
  assert.ok(node.proc.exitCode === null);
  ollama.close();
});

test('the coordinator dies and comes back on its port: the node is back within one interval', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  let herd = await startHerd();
  const interval = 2;
  const node = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'box-a', interval });
  await eventually(() => fleetNode(herd.url, 'box-a'));
  const port = herd.port;
  await herd.stop('SIGKILL');
  await sleep(3 * interval * 1000); // several failed beats: the agent backs off
  const t0 = Date.now();
  herd = await startHerd(['--port', String(port)]);
  await eventually(() => fleetNode(herd.url, 'box-a'), { timeoutMs: 10000 });
  const took = Date.now() - t0;
  assert.ok(took <= interval * 1000 + 1000, `the node came back after ${took} ms (interval ${interval} s)`);
  assert.equal(lines(node, /heartbeat to .* failed/).length, 1);
  assert.equal(lines(node, /reach the coordinator .* again/).length, 1);
});

test('SIGTERM: one draining heartbeat takes the node out at once, and the agent exits 0', async () => {
  const a = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const b = await startSim(['--name', 'b', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd();
  const na = await startNode({ ollama: a.url, router: herd.url, nodeId: 'box-a', interval: 5 });
  await startNode({ ollama: b.url, router: herd.url, nodeId: 'box-b', interval: 5 });
  await eventually(async () => (await fleetNode(herd.url, 'box-a')) && (await fleetNode(herd.url, 'box-b')));
  assert.equal(await na.stop('SIGTERM'), 0);
  // No waiting for a timeout: the coordinator knows now.
  const gone = await fleetNode(herd.url, 'box-a');
  assert.equal(gone.draining, true);
  assert.notEqual(gone.status, 'online');
  const before = (await simRequests(a.url)).filter((r) => r.path === '/api/chat').length;
  for (let i = 0; i < 4; i++) {
    const r = await postJson(`${herd.url}/api/chat`, chat());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-node'), 'box-b');
  }
  assert.equal((await simRequests(a.url)).filter((r) => r.path === '/api/chat').length, before);
  assert.equal(lines(na, /knows this node is leaving/).length, 1);
});

test('SIGTERM with the coordinator unreachable still exits 0, after at most the drain timeout', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7']);
  const node = await startNode({ ollama: sim.url, router: 'http://127.0.0.1:9', nodeId: 'box-a' });
  await sleep(300);
  const t0 = Date.now();
  assert.equal(await node.stop('SIGTERM'), 0);
  assert.ok(Date.now() - t0 < 5000);
});

test('capacity override: the command changes the capacity block, and paused takes the node out', async () => {
  const a = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const b = await startSim(['--name', 'b', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd();
  const na = await startNode({ ollama: a.url, router: herd.url, nodeId: 'box-a', args: ['--learn-capacity'] });
  await startNode({ ollama: b.url, router: herd.url, nodeId: 'box-b' });
  const first = await eventually(async () => (await fleetNode(herd.url, 'box-a'))?.capacity);
  assert.equal(first.override_active, false);
  assert.notEqual(first.mode, 'paused'); // a new machine is routable at once
  const cli = (args) => spawnSync(join(BUILD, 'herd-node'), ['--node-id', 'box-a', '--data-dir', na.dataDir, 'capacity', ...args],
    { encoding: 'utf8', env: { ...process.env, FLEET_ENV_FILE: '/nonexistent' } });

  let out = cli(['paused', '--hours', '2']);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /paused/);
  const paused = await eventually(async () => {
    const c = (await fleetNode(herd.url, 'box-a'))?.capacity;
    return c?.mode === 'paused' && c;
  });
  assert.equal(paused.override_active, true);
  assert.equal(paused.ceiling_gb, 0);
  for (let i = 0; i < 3; i++) assert.equal((await postJson(`${herd.url}/api/chat`, chat())).headers.get('x-fleet-node'), 'box-b');

  out = cli(['full']);
  assert.equal(out.status, 0, out.stderr);
  const full = await eventually(async () => {
    const c = (await fleetNode(herd.url, 'box-a'))?.capacity;
    return c?.mode === 'full' && c;
  });
  assert.equal(full.reason, 'manual_override');
  const total = (await fleetNode(herd.url, 'box-a')).memory.total_gb;
  assert.ok(Math.abs(full.ceiling_gb - 0.8 * total) < 0.05);

  out = cli(['status']);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /full/);
  out = cli(['auto']);
  assert.equal(out.status, 0, out.stderr);
  await eventually(async () => (await fleetNode(herd.url, 'box-a'))?.capacity?.override_active === false);
  out = cli(['sideways']);
  assert.notEqual(out.status, 0);
  assert.match(out.stderr, /full|paused|auto/);
});

test('the capacity model is saved on exit and loaded again', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7']);
  const herd = await startHerd();
  const n1 = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'box-a', args: ['--learn-capacity'] });
  await eventually(async () => (await fleetNode(herd.url, 'box-a'))?.capacity);
  await sleep(600); // a few observations (the first beat may come too soon after start to measure)
  assert.equal(await n1.stop('SIGTERM'), 0);
  assert.ok(existsSync(join(n1.dataDir, 'capacity-learner-box-a.json')));
  const n2 = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'box-a', dataDir: n1.dataDir, args: ['--learn-capacity'] });
  await eventually(() => lines(n2, /capacity model loaded/).length === 1);
});

test('NVIDIA GPUs through NVML: the GPU block, the chip and its bandwidth', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7']);
  const herd = await startHerd();
  await startNode({ ollama: sim.url, router: herd.url, nodeId: 'gpu-box', args: ['--nvml-library', join(BUILD, 'tests', 'libfake_nvml.so')] });
  const n = await eventually(async () => (await fleetNode(herd.url, 'gpu-box'))?.gpus && (await fleetNode(herd.url, 'gpu-box')));
  assert.equal(n.gpus.length, 2);
  assert.deepEqual(n.gpus[0], { name: 'NVIDIA GeForce RTX 4090', vram_total_gb: 24, vram_used_gb: 6, utilization_pct: 35, temperature_c: 61 });
  assert.equal(n.gpus[1].name, 'NVIDIA GeForce RTX 3090');
  assert.match(n.chip, /\+ NVIDIA GeForce RTX 4090$/);
  assert.equal(n.memory_bandwidth_gbps, 1008);
  // Without the library: no GPU block and no error.
  const plain = await startNode({ ollama: sim.url, router: herd.url, nodeId: 'plain', args: ['--nvml-library', '/nonexistent/libnvidia-ml.so.1'] });
  const p = await eventually(() => fleetNode(herd.url, 'plain'));
  assert.equal(p.gpus, undefined);
  assert.equal(lines(plain, /error/i).length, 0);
});

test('--metrics herd-sim reports the simulated machine (demo fleets)', async () => {
  const sim = await startSim([], {
    profile: { name: 'gpu-box', description: 'RTX 4090 in a 64 GB PC', memory_gb: 22, vram_gb: 24, bandwidth_gbps: 1000, num_parallel: 2, models: [{ name: 'qwen2.5:7b', size_gb: 4.7, loaded: true }] },
  });
  const herd = await startHerd();
  await startNode({ ollama: sim.url, router: herd.url, nodeId: 'gpu-box', args: ['--metrics', 'herd-sim'] });
  const n = await eventually(async () => (await fleetNode(herd.url, 'gpu-box'))?.memory?.pressure_source === 'herd-sim' && (await fleetNode(herd.url, 'gpu-box')));
  assert.equal(n.chip, 'RTX 4090 in a 64 GB PC');
  assert.ok(Math.abs(n.memory.total_gb - 22e9 / GIB) < 0.01);
  assert.equal(n.memory_bandwidth_gbps, 1000);
  assert.equal(n.ollama.num_parallel, 2);
  assert.equal(n.gpus[0].name, 'simulated GPU');
});

test('the node id defaults to the short host name', async () => {
  const sim = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7']);
  const herd = await startHerd();
  await startNode({ ollama: sim.url, router: herd.url, nodeId: null });
  const short = hostname().split('.')[0];
  const n = await eventually(() => fleetNode(herd.url, short));
  assert.equal(n.node_id, short);
});

test('bad settings are refused with a clear message', async () => {
  const run = (args) => spawnSync(join(BUILD, 'herd-node'), args, { encoding: 'utf8', env: { ...process.env, FLEET_ENV_FILE: '/nonexistent' } });
  let r = run(['--heartbeat-interval', '0']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /heartbeat-interval/);
  r = run(['--metrics', 'magic']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /system|herd-sim/);
  r = run(['--help']);
  assert.equal(r.status, 0);
  for (const opt of ['--node-id', '--router-url', '--router-name', '--learn-capacity', '--nvml-library', 'capacity full']) assert.ok(r.stdout.includes(opt), opt);
});
