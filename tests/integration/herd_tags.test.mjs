// The fleet's listings as Ollama gives them: /api/tags with the nodes' own digests, details and
// sizes (each model once, with fleet_nodes; fleet_digests when nodes hold different models
// under one name), /api/ps with each loaded model once, and /v1/models agreeing. One node
// reports through the real herd-node (its heartbeat carries a digest of its list), the others
// through heartbeats built by the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startHerd, startNode, heartbeatLoop, getJson, eventually, fleetNode } from './lib/harness.mjs';

let herd;
let alpha;
let beta;
let gamma;
let agent;
let loop;
after(() => loop?.stop());

const byName = (list) => Object.fromEntries(list.map((m) => [m.name, m]));

before(async () => {
  alpha = await startSim(['--name', 'alpha', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:1b=1.3', '--loaded', 'qwen2.5:7b', '--keep-alive', '-1']);
  beta = await startSim(['--name', 'beta', '--model', 'qwen2.5:7b=4.7', '--model', 'phi4:latest=9.1', '--loaded', 'qwen2.5:7b', '--keep-alive', '1e8']);
  gamma = await startSim(['--name', 'gamma', '--model', 'mistral:latest=4.1', '--model', 'qwen2.5:7b=4.7']);
  herd = await startHerd([]);
  loop = heartbeatLoop(herd, [{ name: 'alpha', url: alpha.url }, { name: 'beta', url: beta.url }]);
  await loop.ready;
  agent = await startNode({ ollama: gamma.url, router: herd.url, nodeId: 'gamma' });
  // Every node's own list has been fetched: the digests are there.
  await eventually(async () => {
    const tags = byName((await getJson(`${herd.url}/api/tags`)).body.models);
    return tags['mistral:latest']?.digest && tags['llama3.2:1b']?.digest && tags['phi4:latest']?.digest;
  }, { timeoutMs: 15000 });
});

test('/api/tags: each model once, with the node\'s own entry and the nodes that hold it', async () => {
  const fleet = byName((await getJson(`${herd.url}/api/tags`)).body.models);
  for (const [sim, id] of [[alpha, 'alpha'], [beta, 'beta'], [gamma, 'gamma']]) {
    for (const own of (await getJson(`${sim.url}/api/tags`)).body.models) {
      const f = fleet[own.name];
      assert.ok(f, own.name);
      for (const k of ['name', 'model', 'size', 'digest', 'modified_at'])
        assert.equal(f[k], own[k], `${own.name} ${k}`);
      for (const k of ['format', 'family', 'families', 'parameter_size', 'quantization_level', 'parent_model'])
        assert.deepEqual(f.details[k], own.details[k], `${own.name} details.${k}`);
      assert.deepEqual(f.capabilities, own.capabilities);
      assert.ok(f.fleet_nodes.includes(id), `${own.name} on ${id}`);
    }
  }
  assert.deepEqual(fleet['qwen2.5:7b'].fleet_nodes.sort(), ['alpha', 'beta', 'gamma']);
  assert.equal(fleet['qwen2.5:7b'].fleet_digests, undefined, 'the same model everywhere');
  assert.deepEqual(fleet['mistral:latest'].fleet_nodes, ['gamma']);
  assert.equal(Object.keys(fleet).length, 4);
  // Sorted as Ollama sorts: most recently modified first.
  const times = (await getJson(`${herd.url}/api/tags`)).body.models.map((m) => Date.parse(m.modified_at));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));
  // The official client reads it.
  const listed = await new Ollama({ host: herd.url }).list();
  assert.ok(listed.models.find((m) => m.name === 'phi4:latest').details.parameter_size);
});

test('/api/tags says so when nodes hold different models under one name', async () => {
  // Two different models called "custom": one per node.
  for (const [id, system] of [['alpha', 'one'], ['beta', 'two']]) {
    const r = await fetch(`${herd.url}/api/create`, { method: 'POST', headers: { 'X-Herd-Node': id },
      body: JSON.stringify({ model: 'custom', from: 'qwen2.5:7b', system, stream: false }) });
    assert.equal(r.status, 200, await r.clone().text());
  }
  await eventually(async () => {
    const c = byName((await getJson(`${herd.url}/api/tags`)).body.models)['custom:latest'];
    return c?.fleet_digests && Object.keys(c.fleet_digests).length === 2;
  }, { timeoutMs: 10000 });
  const c = byName((await getJson(`${herd.url}/api/tags`)).body.models)['custom:latest'];
  const own = async (sim) => byName((await getJson(`${sim.url}/api/tags`)).body.models)['custom:latest'].digest;
  assert.deepEqual(c.fleet_digests, { alpha: await own(alpha), beta: await own(beta) });
  assert.notEqual(c.fleet_digests.alpha, c.fleet_digests.beta);
  // herd's log says so too.
  const log = readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8');
  assert.match(log, /nodes (alpha|beta) and (alpha|beta) hold different models under the name custom:latest/);
});

test('/api/ps: each loaded model once, with the latest expiry, Ollama\'s fields and the nodes it is loaded on', async () => {
  await eventually(async () => (await fleetNode(herd.url, 'beta')).ollama.models_loaded.length === 1 &&
    (await fleetNode(herd.url, 'alpha')).ollama.models_loaded.length === 1);
  const ps = (await getJson(`${herd.url}/api/ps`)).body.models;
  const qwen = ps.filter((m) => m.name === 'qwen2.5:7b');
  assert.equal(qwen.length, 1);
  assert.deepEqual(qwen[0].fleet_nodes.sort(), ['alpha', 'beta']);
  // alpha keeps its models for ever, beta for a long while: alpha's runner is the one shown.
  const own = (await getJson(`${alpha.url}/api/ps`)).body.models[0];
  const betaOwn = (await getJson(`${beta.url}/api/ps`)).body.models[0];
  assert.ok(Date.parse(own.expires_at) > Date.parse(betaOwn.expires_at));
  assert.equal(qwen[0].fleet_node, 'alpha');
  for (const k of ['size', 'size_vram', 'digest', 'context_length'])
    assert.equal(qwen[0][k], own[k], k);
  assert.equal(Math.abs(Date.parse(qwen[0].expires_at) - Date.parse(own.expires_at)) < 2000, true);
  assert.deepEqual(qwen[0].details.quantization_level, own.details.quantization_level);
  assert.equal(qwen[0].details.family, own.details.family);
  const listed = await new Ollama({ host: herd.url }).ps();
  assert.ok(listed.models.every((m) => m.digest && m.expires_at));
});

test('/v1/models agrees with /api/tags', async () => {
  const tags = (await getJson(`${herd.url}/api/tags`)).body.models;
  const models = (await getJson(`${herd.url}/v1/models`)).body.data;
  assert.deepEqual(models.map((m) => m.id).sort(), tags.map((m) => m.name).sort());
  const phi = models.find((m) => m.id === 'phi4:latest');
  assert.equal(phi.created, Math.floor(Date.parse(tags.find((m) => m.name === 'phi4:latest').modified_at) / 1000));
  assert.deepEqual(phi.fleet_nodes, ['beta']);
});

test('herd-node\'s heartbeat carries a digest of its list, not the list\'s details', async () => {
  const hb = (await fleetNode(herd.url, 'gamma')).ollama;
  assert.match(hb.tags_digest, /^[0-9a-f]{64}$/);
  assert.ok(hb.models_available.every((m) => m.digest === undefined && m.details === undefined));
  assert.ok(hb.models_available.length >= 2);
  void agent;
});
