// The dashboard's model lifecycle against a simulated fleet with traffic: the inventory
// (model-management) against the nodes and the traces, recommendations from the demand the
// traces show, and pulls and deletes that change what the nodes report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, curl, eventually, simState, simRequests, fleetNode } from './lib/harness.mjs';

let herd;
let studio;
let laptop;
let slow;
let loop;
let traces;
after(() => loop?.stop());

const tags = async (node) => (await getJson(`${node.url}/api/tags`)).body.models.map((m) => m.name).sort();
const inventory = async () => (await getJson(`${herd.url}/dashboard/api/model-management`)).body;
const herdLog = () => readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

before(async () => {
  studio = await startSim(['--name', 'mac-studio', '--memory-gb', '128',
    '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:3b=2.0', '--model', 'old-model:7b=4.1',
    '--loaded', 'qwen2.5:7b', '--registry', 'llama3.3:70b=42.5', '--pull-gbps', '100']);
  laptop = await startSim(['--name', 'laptop', '--memory-gb', '16', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  // Pulls onto this one take minutes: they are still running while the tests look at them.
  slow = await startSim(['--name', 'slow', '--memory-gb', '32', '--model', 'phi3:mini=2.2', '--pull-gbps', '0.0001']);
  herd = await startHerd(['--auto-pull=false', '--vram-fallback=false', '--auto-pull-timeout', '30']);
  const memory = { 'mac-studio': 128, laptop: 16, slow: 32 };
  loop = heartbeatLoop(herd, [{ name: 'mac-studio', url: studio.url }, { name: 'laptop', url: laptop.url }, { name: 'slow', url: slow.url }],
    (n) => ({ memory: { total_gb: memory[n.name], used_gb: 4, available_gb: memory[n.name] - 4 }, disk: { total_gb: 1000, available_gb: 500 } }));
  await loop.ready;
  const chat = (model) => postJson(`${herd.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hello' }], stream: false });
  const replies = [];
  for (let i = 0; i < 8; i++) replies.push(await chat('qwen2.5:7b'));
  replies.push(await chat('llama3.2:3b'));
  for (let i = 0; i < 3; i++) replies.push(await chat('gemma3:4b')); // no node has it
  assert.deepEqual(replies.map((r) => r.status), [...Array(9).fill(200), 404, 404, 404]);
  traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=100`)).body;
  assert.equal(traces.length, 12);
  // herd has seen the models the traffic loaded.
  await eventually(async () => {
    for (const [name, sim] of [['mac-studio', studio], ['laptop', laptop], ['slow', slow]]) {
      const ps = (await getJson(`${sim.url}/api/ps`)).body.models.map((m) => m.name).sort().join();
      if ((await fleetNode(herd.url, name)).ollama.models_loaded.map((m) => m.name).sort().join() !== ps) return false;
    }
    return true;
  });
});

test('model-management: every model on every node, loaded or not, with its use from the traces', async () => {
  const inv = await inventory();
  assert.deepEqual(inv.nodes.map((n) => n.node_id), ['mac-studio', 'laptop', 'slow']);
  for (const [name, sim] of [['mac-studio', studio], ['laptop', laptop], ['slow', slow]]) {
    const n = inv.nodes.find((x) => x.node_id === name);
    assert.deepEqual(n.models.map((m) => m.model).sort(), await tags(sim), name);
    const ps = (await getJson(`${sim.url}/api/ps`)).body.models.map((m) => m.name);
    for (const m of n.models) {
      assert.equal(m.loaded, ps.includes(m.model), `${name} ${m.model} loaded`);
      const mine = traces.filter((t) => t.node_id === name && t.model === m.model);
      assert.equal(m.requests_30d, mine.length, `${name} ${m.model} requests`);
      if (mine.length) assert.ok(Math.abs(m.last_used - Math.max(...mine.map((t) => t.timestamp))) < 1e-3, `${name} ${m.model} last used`);
      else assert.equal(m.last_used, null);
      assert.equal(m.in_flight, 0);
      assert.equal(m.pulling, false);
    }
    assert.equal(n.disk_free_gb, 500);
  }
  const studioRow = inv.nodes[0].models.find((m) => m.model === 'old-model:7b');
  assert.ok(Math.abs(studioRow.size_gb - 4.1) < 0.01);
  assert.equal(inv.totals.models, 5);
});

test('recommendations: the missing model is pulled where it fits, the unused one can go', async () => {
  const r = await getJson(`${herd.url}/dashboard/api/recommendations`);
  assert.equal(r.status, 200);
  const byModel = Object.fromEntries(r.body.models.map((m) => [m.model, m]));
  // Demand is what clients asked for (a fallback to a loaded model is not demand for it).
  for (const m of ['qwen2.5:7b', 'llama3.2:3b']) assert.equal(byModel[m].requests_7d, traces.filter((t) => t.original_model === m).length, m);
  assert.equal(byModel['gemma3:4b'].requests_7d, 3);
  assert.equal(byModel['gemma3:4b'].unserved_7d, 3);
  assert.equal(byModel['gemma3:4b'].status, 'missing');
  assert.equal(byModel['qwen2.5:7b'].nodes_with_it, 2);
  const pulls = r.body.nodes.flatMap((n) => n.pull.map((p) => [n.node_id, p.model]));
  // gemma2 goes onto the node with the most memory left: the studio (128 GB).
  assert.deepEqual(pulls.filter(([, m]) => m === 'gemma3:4b'), [['mac-studio', 'gemma3:4b']]);
  const removals = r.body.nodes.flatMap((n) => n.remove.map((p) => [n.node_id, p.model]));
  assert.deepEqual(removals.sort(), [['mac-studio', 'old-model:7b'], ['slow', 'phi3:mini']]);
  assert.ok(Math.abs(r.body.summary.reclaimable_gb - (4.1 + 2.2)) < 0.01);
  const studioPlan = r.body.nodes.find((n) => n.node_id === 'mac-studio');
  assert.equal(studioPlan.offers_gb, 128 - 6);
  assert.deepEqual(studioPlan.keep.map((k) => k.model).sort(), ['llama3.2:3b', 'qwen2.5:7b']);
});

test('pull: the node\'s progress streams back, and the node has the model at once', async () => {
  // The seed's curl, verbatim.
  const out = await curl(['-s', '-X', 'POST', `${herd.url}/dashboard/api/pull`, '-H', 'Content-Type: application/json',
    '-d', '{"model": "llama3.3:70b", "node_id": "mac-studio"}']);
  const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 3, out.stdout);
  assert.ok(lines.some((l) => l.total > 0 && l.completed >= 0), 'download progress');
  assert.deepEqual(lines.at(-1), { status: 'success' });
  assert.ok((await tags(studio)).includes('llama3.3:70b'));
  // (A heartbeat read before the pull ended may still say otherwise for a moment.)
  await eventually(async () => (await fleetNode(herd.url, 'mac-studio')).ollama.models_available.some((m) => m.name === 'llama3.3:70b'));
  const pulled = (await simRequests(studio.url)).filter((q) => q.path === '/api/pull');
  assert.deepEqual(pulled.map((q) => q.body.model), ['llama3.3:70b']);
  assert.ok(herdLog().some((l) => /asked to pull llama3.3:70b onto mac-studio/.test(l.msg)));
  assert.ok(herdLog().some((l) => /pulled llama3.3:70b onto mac-studio/.test(l.msg)));
});

test('pull with stream false answers once; without node_id it picks the roomiest node', async () => {
  const r = await postJson(`${herd.url}/dashboard/api/pull`, { model: 'gemma3:4b', stream: false });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'success');
  assert.equal(r.body.node_id, 'mac-studio');
  assert.ok((await tags(studio)).includes('gemma3:4b'));
  // The requests that failed before are served now.
  const chat = await postJson(`${herd.url}/api/chat`, { model: 'gemma3:4b', messages: [{ role: 'user', content: 'hi' }], stream: false });
  assert.equal(chat.status, 200);
});

test('pull errors: unknown model, unknown node, bad body, and a second pull of the same model', async () => {
  const unknown = await postJson(`${herd.url}/dashboard/api/pull`, { model: 'no-such-model:1b', node_id: 'laptop', stream: false });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error, /file does not exist/);
  const streamed = await fetch(`${herd.url}/dashboard/api/pull`, { method: 'POST', body: JSON.stringify({ model: 'no-such-model:1b', node_id: 'laptop' }) });
  const lines = (await streamed.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.match(lines.at(-1).error, /file does not exist/);
  assert.equal((await postJson(`${herd.url}/dashboard/api/pull`, { model: 'qwen2.5:7b', node_id: 'nowhere' })).status, 404);
  const bad = await postJson(`${herd.url}/dashboard/api/pull`, '{"model": ');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /invalid JSON/);
  assert.equal((await postJson(`${herd.url}/dashboard/api/pull`, { node_id: 'laptop' })).status, 400);
  assert.equal((await postJson(`${herd.url}/dashboard/api/pull`, { model: 'bad name!', node_id: 'laptop' })).status, 400);

  // A slow pull: the caller reads the first line and leaves; the pull goes on, is listed, and
  // a second one is refused.
  const ac = new AbortController();
  const first = await fetch(`${herd.url}/dashboard/api/pull`, { method: 'POST', body: JSON.stringify({ model: 'qwen2.5:7b', node_id: 'slow' }), signal: ac.signal });
  assert.equal(first.status, 200);
  const reader = first.body.getReader();
  await reader.read();
  ac.abort();
  await eventually(async () => (await inventory()).pulls.some((p) => p.model === 'qwen2.5:7b' && p.node_id === 'slow' && p.total > 0));
  const p = (await inventory()).pulls.find((x) => x.node_id === 'slow');
  assert.equal(p.origin, 'dashboard');
  assert.ok(p.completed < p.total);
  assert.equal((await simState(slow.url)).pulls, 1);
  const again = await postJson(`${herd.url}/dashboard/api/pull`, { model: 'qwen2.5:7b', node_id: 'slow' });
  assert.equal(again.status, 409);
  assert.match(again.body.error, /already being pulled onto slow/);
  // Deleting what is being pulled is refused, even when forced; another model goes.
  const del = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'qwen2.5:7b', node_id: 'slow', force: true });
  assert.equal(del.status, 409);
  assert.match(del.body.error, /being pulled onto slow/);
  assert.equal((await postJson(`${herd.url}/dashboard/api/delete`, { model: 'phi3:mini', node_id: 'slow' })).status, 200);
  assert.deepEqual(await tags(slow), []);
});

test('delete: a loaded model is refused unless forced; the node and herd forget it', async () => {
  // A heartbeat read before the delete and arriving after it would tell herd the model is
  // still there; what is checked is herd's own forgetting, before any heartbeat.
  await loop.pause();
  const refused = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'qwen2.5:7b', node_id: 'laptop' });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error, /qwen2.5:7b is loaded on laptop; .*"force": true/);
  assert.ok((await tags(laptop)).includes('qwen2.5:7b'));

  const forced = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'qwen2.5:7b', node_id: 'laptop', force: true });
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  assert.deepEqual(forced.body, { status: 'success', model: 'qwen2.5:7b', node_id: 'laptop', forced: true, was_loaded: true });
  assert.ok(!(await tags(laptop)).includes('qwen2.5:7b'));
  // Unloaded first: its memory is free too.
  assert.deepEqual((await getJson(`${laptop.url}/api/ps`)).body.models, []);
  const unload = (await simRequests(laptop.url)).filter((q) => q.path === '/api/generate').at(-1);
  assert.deepEqual([unload.body.model, unload.body.keep_alive], ['qwen2.5:7b', 0]);
  const inv = await inventory();
  assert.ok(!inv.nodes.find((n) => n.node_id === 'laptop').models.some((m) => m.model === 'qwen2.5:7b'));
  loop.resume();

  // The seed's curl, verbatim: an unused model goes.
  const out = await curl(['-s', '-X', 'POST', `${herd.url}/dashboard/api/delete`, '-H', 'Content-Type: application/json',
    '-d', '{"model": "old-model:7b", "node_id": "mac-studio"}']);
  assert.equal(JSON.parse(out.stdout).status, 'success');
  assert.ok(!(await tags(studio)).includes('old-model:7b'));
  await loop.beat(); // the next heartbeat agrees
  const node = await fleetNode(herd.url, 'mac-studio');
  assert.ok(!node.ollama.models_available.some((m) => m.name === 'old-model:7b'));

  const missing = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'old-model:7b', node_id: 'mac-studio' });
  assert.equal(missing.status, 404);
  assert.match(missing.body.error, /node mac-studio has no model 'old-model:7b'/);
  assert.equal((await postJson(`${herd.url}/dashboard/api/delete`, { model: 'qwen2.5:7b' })).status, 400);
  assert.equal((await postJson(`${herd.url}/dashboard/api/delete`, { model: 'qwen2.5:7b', node_id: 'nowhere' })).status, 404);
  const log = herdLog();
  assert.ok(log.some((l) => /127.0.0.1 deleted qwen2.5:7b from laptop \(forced\)/.test(l.msg)));
  assert.ok(log.some((l) => /asked to delete qwen2.5:7b from laptop: refused/.test(l.msg)));
});

test('delete: a model serving requests is refused; the node failing the delete is reported', async () => {
  // A long request (the node runs 200 times slower for it), left once the check is done.
  await postJson(`${studio.url}/_sim/fault`, { kind: 'slow', factor: 200 });
  const ac = new AbortController();
  const hold = fetch(`${herd.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'gemma3:4b', messages: [{ role: 'user', content: 'x' }], options: { num_predict: 500 } }), signal: ac.signal });
  await eventually(async () => (await inventory()).nodes[0].models.find((m) => m.model === 'gemma3:4b').in_flight === 1);
  const busy = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'gemma3:4b', node_id: 'mac-studio' });
  assert.equal(busy.status, 409);
  assert.match(busy.body.error, /gemma3:4b is (loaded and )?serving requests on mac-studio/);
  ac.abort();
  await hold.then((r) => r.body?.cancel().catch(() => {}), () => {});
  await getJson(`${studio.url}/_sim/fault`, { method: 'DELETE' });
  // The node's own refusal comes back with its reason.
  await postJson(`${studio.url}/_sim/fault`, { kind: 'fail', status: 500, path: '/api/delete' });
  const failed = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'gemma3:4b', node_id: 'mac-studio', force: true });
  await getJson(`${studio.url}/_sim/fault`, { method: 'DELETE' });
  assert.equal(failed.status, 502, JSON.stringify(failed.body));
  assert.match(failed.body.error, /node mac-studio refused to delete gemma3:4b/);

  // The node's Ollama is gone but herd does not know yet: the unload before a forced delete
  // fails, the delete is still tried, and its failure comes back. The forced delete above
  // unloaded the model first, so it is loaded again, and herd is told so, before the node dies.
  const load = await postJson(`${studio.url}/api/generate`, { model: 'gemma3:4b', prompt: 'x', stream: false, options: { num_predict: 1 } });
  assert.equal(load.status, 200);
  await eventually(async () => (await inventory()).nodes[0].models.find((m) => m.model === 'gemma3:4b').loaded);
  await loop.pause();
  await studio.stop('SIGKILL');
  const gone = await postJson(`${herd.url}/dashboard/api/delete`, { model: 'gemma3:4b', node_id: 'mac-studio', force: true });
  assert.equal(gone.status, 502, JSON.stringify(gone.body));
  assert.match(gone.body.error, /node mac-studio could not be reached/);
  const log = herdLog();
  assert.ok(log.some((l) => /unloading gemma3:4b from mac-studio before deleting it failed/.test(l.msg)));
  assert.ok(log.some((l) => /delete of gemma3:4b from mac-studio asked by 127.0.0.1 failed/.test(l.msg)));
  loop.resume();
});
