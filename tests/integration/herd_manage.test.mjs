// Ollama's model management through herd: the official ollama client makes every call
// (pull, list, show, copy, create, delete, push) against a simulator directly and through herd,
// with the same outcomes; then what only a fleet has: targets named with X-Herd-Node, progress
// merged across nodes, a node that dies mid-pull named in the error, deletes everywhere, blobs
// going to the node the create will use.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Ollama } from 'ollama';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, simRequests, eventually } from './lib/harness.mjs';

let herd;
let solo; // a simulator on its own: what a single Ollama answers
let alpha;
let beta;
let slow;
let loop;
after(() => loop?.stop());

const names = async (url) => (await getJson(`${url}/api/tags`)).body.models.map((m) => m.name).sort();
const lines = async (res) => (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
const send = (url, path, body, headers = {}, method = 'POST') =>
  fetch(`${url}${path}`, { method, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });

before(async () => {
  const models = ['--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:1b=1.3'];
  solo = await startSim(['--name', 'solo', ...models]);
  // Loaded for good: only an unload unloads them.
  alpha = await startSim(['--name', 'alpha', '--memory-gb', '64', ...models, '--loaded', 'qwen2.5:7b', '--keep-alive', '-1']);
  beta = await startSim(['--name', 'beta', '--memory-gb', '16', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--keep-alive', '-1']);
  // Its downloads take minutes: a pull onto it is still running when it is killed.
  slow = await startSim(['--name', 'slow', '--memory-gb', '8', '--pull-gbps', '0.0001']);
  herd = await startHerd(['--auto-pull=false']);
  const memory = { alpha: 64, beta: 16, slow: 8 };
  loop = heartbeatLoop(herd, [{ name: 'alpha', url: alpha.url }, { name: 'beta', url: beta.url }, { name: 'slow', url: slow.url }],
    (n) => ({ memory: { total_gb: memory[n.name], used_gb: 2, available_gb: memory[n.name] - 2 }, disk: { total_gb: 1000, available_gb: 500 } }));
  await loop.ready;
});

// The same calls against one Ollama and against the fleet. Differences on purpose (herd's
// documented features): herd adds X-Fleet-Node to its answers and, without X-Herd-Node,
// applies a call to every node concerned.
for (const where of ['simulator', 'herd']) {
  test(`ollama client, ${where}: pull, list, show, copy, create, delete, push`, async () => {
    const url = where === 'herd' ? herd.url : solo.url;
    const ollama = new Ollama({ host: url });
    // pull: streamed progress, then success; not streamed: one answer.
    const progress = [];
    for await (const p of await ollama.pull({ model: 'gemma3:4b', stream: true })) progress.push(p);
    assert.equal(progress.at(-1).status, 'success');
    assert.ok(progress.some((p) => p.total > 0 && p.digest?.startsWith('sha256:')), 'layer progress');
    assert.equal(progress[0].status, 'pulling manifest');
    assert.deepEqual(await ollama.pull({ model: 'llama3.2:1b', stream: false }), { status: 'success' });
    await eventually(async () => (await ollama.list()).models.some((m) => m.name === 'gemma3:4b'));
    // A model the registry lacks: Ollama's error.
    await assert.rejects(ollama.pull({ model: 'no-such-model:1b', stream: false }), /file does not exist/);
    await assert.rejects((async () => { for await (const p of await ollama.pull({ model: 'no-such-model:1b', stream: true })) void p; })(),
      /file does not exist/);

    // copy, then show the copy.
    assert.deepEqual(await ollama.copy({ source: 'qwen2.5:7b', destination: 'qwen-backup' }), { status: 'success' });
    await eventually(async () => (await ollama.list()).models.some((m) => m.name === 'qwen-backup:latest'));
    assert.equal((await ollama.show({ model: 'qwen-backup' })).details.family.length > 0, true);
    await assert.rejects(ollama.copy({ source: 'nothing-here', destination: 'x' }), (e) => e.status_code === 404);

    // create from a model with parameters and a system prompt, streamed and not.
    const created = [];
    for await (const p of await ollama.create({ model: 'qwen-8k', from: 'qwen2.5:7b', parameters: { num_ctx: 8192 }, system: 'be brief', stream: true })) created.push(p);
    assert.equal(created.at(-1).status, 'success');
    assert.ok(created.some((p) => /^using existing layer sha256:/.test(p.status)));
    assert.ok(created.some((p) => /^creating new layer sha256:/.test(p.status)));
    assert.deepEqual(await ollama.create({ model: 'qwen-q4', from: 'qwen2.5:7b', quantize: 'q4_0', stream: false }), { status: 'success' });
    await eventually(async () => (await ollama.list()).models.some((m) => m.name === 'qwen-8k:latest'));
    await assert.rejects(ollama.create({ model: 'x', from: 'nothing-here', stream: false }), (e) => e.status_code === 404);

    // delete: gone from the list; an unknown one is a 404.
    assert.deepEqual(await ollama.delete({ model: 'qwen-backup' }), { status: 'success' });
    await eventually(async () => !(await ollama.list()).models.some((m) => m.name === 'qwen-backup:latest'));
    await assert.rejects(ollama.delete({ model: 'qwen-backup' }), (e) => e.status_code === 404);

    // push: refused as a registry refuses a client without credentials.
    await assert.rejects(ollama.push({ model: 'qwen-8k', stream: false }), /not authorized/);
    await assert.rejects((async () => { for await (const p of await ollama.push({ model: 'qwen-8k', stream: true })) void p; })(), /not authorized/);

    // Bad requests: Ollama's 400s.
    const bad = await send(url, '/api/pull', {});
    assert.equal(bad.status, 400);
    assert.ok((await bad.json()).error);
  });
}

test('pull onto named nodes: one progress stream, forward only, success once both have it', async () => {
  await loop.pause(); // what herd knows of the pulled model comes from the pull, not a heartbeat
  const res = await send(herd.url, '/api/pull', { model: 'qwen3:8b' }, { 'X-Herd-Node': 'alpha,beta' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-fleet-node'), 'alpha,beta');
  const out = await lines(res);
  assert.deepEqual(out.at(-1), { status: 'success' });
  assert.equal(out.filter((l) => l.status === 'success').length, 1);
  assert.equal(out.filter((l) => l.status === 'pulling manifest').length, 1);
  let last = -1;
  for (const l of out.filter((x) => x.total)) {
    assert.ok((l.completed ?? 0) >= last, 'progress only moves forward');
    last = l.completed ?? 0;
  }
  for (const sim of [alpha, beta]) {
    assert.ok((await names(sim.url)).includes('qwen3:8b'));
    assert.equal((await simRequests(sim.url)).filter((q) => q.path === '/api/pull' && q.body.model === 'qwen3:8b').length, 1);
  }
  // herd knows at once, before any heartbeat.
  const inv = (await getJson(`${herd.url}/dashboard/api/model-management`)).body;
  for (const id of ['alpha', 'beta'])
    assert.ok(inv.nodes.find((n) => n.node_id === id).models.some((m) => m.model === 'qwen3:8b'), id);
  loop.resume();

  // Unknown node, or "all".
  const unknown = await send(herd.url, '/api/pull', { model: 'qwen3:8b' }, { 'X-Herd-Node': 'nowhere' });
  assert.equal(unknown.status, 404);
  assert.match((await unknown.json()).error, /node 'nowhere' is not in the fleet/);
});

test('pull without a named node goes where placement says: the node with the most memory to offer', async () => {
  const r = await send(herd.url, '/api/pull', { model: 'phi4:latest', stream: false, insecure: true });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-node'), 'alpha');
  assert.deepEqual(await r.json(), { status: 'success' });
  assert.ok((await names(alpha.url)).includes('phi4:latest'));
  assert.ok(!(await names(beta.url)).includes('phi4:latest'));
  // What the client asked of the registry reaches the node.
  const asked = (await simRequests(alpha.url)).filter((q) => q.path === '/api/pull' && q.body.model === 'phi4:latest');
  assert.deepEqual(asked.map((q) => [q.body.insecure, q.body.stream]), [[true, true]]);
});

test('a node killed during a pull is named in the error; the other node has the model', async () => {
  const res = await send(herd.url, '/api/pull', { model: 'mistral:latest' }, { 'X-Herd-Node': 'alpha,slow' });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const first = await reader.read(); // the stream has started
  assert.ok(!first.done);
  await eventually(async () => (await names(alpha.url)).includes('mistral:latest'));
  await eventually(async () => (await getJson(`${herd.url}/dashboard/api/model-management`)).body.pulls.some((p) => p.node_id === 'slow' && p.total > 0));
  await slow.stop('SIGKILL');
  let text = new TextDecoder().decode(first.value);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const last = JSON.parse(text.trim().split('\n').at(-1));
  assert.match(last.error, /\(node slow\)/);
  assert.match(last.error, /done on alpha/);
  assert.ok(!last.error.includes('(node alpha)'));
});

test('delete removes the model from every node that has it; copy lands on every node with the source', async () => {
  // A heartbeat read before the delete and arriving after it would list the model again for a
  // moment: what is checked is herd's own knowledge.
  await loop.pause();
  const copied = await send(herd.url, '/api/copy', { source: 'qwen2.5:7b', destination: 'shared-copy' });
  assert.equal(copied.status, 200);
  assert.equal(copied.headers.get('x-fleet-node'), 'alpha,beta');
  assert.equal(await copied.text(), '');
  for (const sim of [alpha, beta]) assert.ok((await names(sim.url)).includes('shared-copy:latest'));
  const del = await send(herd.url, '/api/delete', { model: 'shared-copy' }, {}, 'DELETE');
  assert.equal(del.status, 200);
  assert.equal(await del.text(), '');
  for (const sim of [alpha, beta]) assert.ok(!(await names(sim.url)).includes('shared-copy:latest'));
  assert.ok(!(await getJson(`${herd.url}/api/tags`)).body.models.some((m) => m.name === 'shared-copy:latest'));
  const again = await send(herd.url, '/api/delete', { model: 'shared-copy' }, {}, 'DELETE');
  assert.equal(again.status, 404);
  assert.equal((await again.json()).error, "model 'shared-copy:latest' not found");

  // A node that refuses is named; the other one still deletes.
  await send(herd.url, '/api/copy', { source: 'qwen2.5:7b', destination: 'shared-copy' });
  await postJson(`${beta.url}/_sim/fault`, { kind: 'fail', status: 500, path: '/api/delete', message: 'disk is read-only' });
  const partial = await send(herd.url, '/api/delete', { model: 'shared-copy' }, {}, 'DELETE');
  await getJson(`${beta.url}/_sim/fault`, { method: 'DELETE' });
  assert.equal(partial.status, 500);
  const why = (await partial.json()).error;
  assert.match(why, /node beta refused to delete shared-copy:latest: disk is read-only/);
  assert.match(why, /done on alpha/);
  assert.ok(!(await names(alpha.url)).includes('shared-copy:latest'));
  loop.resume();
});

test('blobs go to one node, and the create from them goes there too', async () => {
  const data = Buffer.from('GGUF a tiny simulated model');
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const head = await fetch(`${herd.url}/api/blobs/${digest}`, { method: 'HEAD' });
  assert.equal(head.status, 404);
  const node = head.headers.get('x-fleet-node');
  assert.ok(['alpha', 'beta'].includes(node), node);
  const up = await fetch(`${herd.url}/api/blobs/${digest}`, { method: 'POST', body: data });
  assert.equal(up.status, 201);
  assert.equal(up.headers.get('x-fleet-node'), node);
  assert.equal((await fetch(`${herd.url}/api/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  const wrong = await fetch(`${herd.url}/api/blobs/${digest}`, { method: 'POST', body: 'something else' });
  assert.equal(wrong.status, 400);
  assert.match((await wrong.json()).error, /digest mismatch/);
  assert.equal((await fetch(`${herd.url}/api/blobs/sha256:xyz`, { method: 'HEAD' })).status, 400);

  const res = await send(herd.url, '/api/create', { model: 'from-blob', files: { 'model.gguf': digest }, stream: false });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('x-fleet-node'), node);
  const sim = node === 'alpha' ? alpha : beta;
  assert.ok((await names(sim.url)).includes('from-blob:latest'));
  const unknownBlob = await send(herd.url, '/api/create', { model: 'nope', files: { 'x.gguf': `sha256:${'0'.repeat(64)}` } });
  assert.equal(unknownBlob.status, 400);
});

test('the dashboard\'s pull runs through the same operation: its list shows who asked', async () => {
  const r = await postJson(`${herd.url}/dashboard/api/pull`, { model: 'deepseek-r1:7b', node_id: 'beta', stream: false });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.node_id, 'beta');
  assert.ok((await names(beta.url)).includes('deepseek-r1:7b'));
});

test('keep_alive 0 unloads the model on every node where it is loaded; a load request loads it on one', async () => {
  const loadedOn = async () => {
    const on = [];
    for (const [id, sim] of [['alpha', alpha], ['beta', beta]])
      if ((await getJson(`${sim.url}/api/ps`)).body.models.some((m) => m.name === 'qwen2.5:7b')) on.push(id);
    return on;
  };
  assert.deepEqual(await loadedOn(), ['alpha', 'beta']);
  await eventually(async () => (await getJson(`${herd.url}/api/ps`)).body.models.find((m) => m.name === 'qwen2.5:7b')?.fleet_nodes.length === 2);
  const ollama = new Ollama({ host: herd.url });
  await loop.pause(); // what herd lists next comes from the unload, not a heartbeat
  const r = await ollama.generate({ model: 'qwen2.5:7b', prompt: '', keep_alive: 0 });
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'unload');
  assert.deepEqual(await loadedOn(), []);
  for (const sim of [alpha, beta]) {
    const seen = (await simRequests(sim.url)).filter((q) => q.path === '/api/generate' && q.body.keep_alive === 0);
    assert.equal(seen.length, 1);
  }
  assert.ok(!(await getJson(`${herd.url}/api/ps`)).body.models.some((m) => m.name === 'qwen2.5:7b'));
  loop.resume();

  // A load request (no messages) loads it where routing sends the next request: one node.
  const load = await ollama.chat({ model: 'qwen2.5:7b', messages: [] });
  assert.equal(load.done_reason, 'load');
  assert.equal((await loadedOn()).length, 1);
  await eventually(async () => (await getJson(`${herd.url}/api/ps`)).body.models.some((m) => m.name === 'qwen2.5:7b'));

  // The chat form, with a duration string.
  const u = await ollama.chat({ model: 'qwen2.5:7b', messages: [], keep_alive: '0s' });
  assert.equal(u.done_reason, 'unload');
  assert.deepEqual(await loadedOn(), []);
  // Named nodes only; a model no node has is Ollama's 404.
  const named = await send(herd.url, '/api/generate', { model: 'llama3.2:1b', keep_alive: 0 }, { 'X-Herd-Node': 'alpha' });
  assert.equal(named.status, 200);
  assert.equal(named.headers.get('x-fleet-node'), 'alpha');
  assert.equal((await named.json()).done_reason, 'unload');
  const none = await send(herd.url, '/api/generate', { model: 'no-such-model', keep_alive: 0 });
  assert.equal(none.status, 404);
});
