// Context protection: a client's options.num_ctx that would make Ollama reload a loaded model
// is taken out when the loaded context is enough (strip), kept with a warning (warn), or left
// alone (passthrough); a larger one goes to a node or a larger model loaded with enough
// context, else through, announced by X-Fleet-Context-Overflow. What each node received is
// read from its request log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, simRequests, simState } from './lib/harness.mjs';

let herd;
let a;
let b;
let c;
let loop;
before(async () => {
  const sa = await startSim(['--name', 'a', '--context-length', '4096', '--model', 'llama3.1:8b=4.9', '--loaded', 'llama3.1:8b']);
  const sb = await startSim(['--name', 'b', '--context-length', '16384', '--model', 'llama3.1:8b=4.9', '--loaded', 'llama3.1:8b']);
  const sc = await startSim(['--name', 'c', '--context-length', '131072', '--memory-gb', '200', '--model', 'llama3.3:70b=42', '--loaded', 'llama3.3:70b']);
  a = { name: 'a', url: sa.url };
  b = { name: 'b', url: sb.url };
  c = { name: 'c', url: sc.url };
  herd = await startHerd();
  loop = heartbeatLoop(herd, [a, b, c], { c: { memory: { total_gb: 256, available_gb: 150 } } });
  await loop.ready;
});
after(() => loop.stop());

const byName = () => ({ a, b, c });
const chat = (h, model, options) => postJson(`${h.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hi' }], stream: false, options });
const lastTrace = async (h) => (await getJson(`${h.url}/dashboard/api/traces?limit=1`)).body[0];
const received = async (node) => (await simRequests(node.url)).filter((q) => q.path === '/api/chat').at(-1).body;
const reloads = async () => {
  let n = 0;
  for (const node of [a, b, c]) n += (await simState(node.url)).stats.reloads;
  return n;
};

test('strip: a num_ctx the loaded context holds is taken out, other options stay', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await chat(herd, 'llama3.1:8b', { num_ctx: 2048, temperature: 0.5 });
    assert.equal(r.status, 200);
    const sent = await received(byName()[r.headers.get('x-fleet-node')]);
    assert.deepEqual(sent.options, { temperature: 0.5 });
    assert.equal((await lastTrace(herd)).context_action, 'stripped');
  }
  const r = await chat(herd, 'llama3.1:8b', { num_ctx: 1024 });
  assert.equal((await received(byName()[r.headers.get('x-fleet-node')])).options, undefined, 'an emptied options object goes too');
  assert.equal(await reloads(), 0);
});

test('strip: a larger num_ctx goes to the node whose loaded context holds it', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await chat(herd, 'llama3.1:8b', { num_ctx: 8192 });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-node'), 'b');
    assert.equal(r.headers.get('x-fleet-context-overflow'), null);
    assert.equal((await received(b)).options, undefined);
    assert.ok(['moved', 'stripped'].includes((await lastTrace(herd)).context_action));
  }
  assert.equal(await reloads(), 0);
});

test('strip: more than any node holds for the model: a larger loaded model with enough context serves', async () => {
  const r = await chat(herd, 'llama3.1:8b', { num_ctx: 65536 });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-node'), 'c');
  assert.equal(r.headers.get('x-fleet-fallback'), 'llama3.3:70b');
  const sent = await received(c);
  assert.equal(sent.model, 'llama3.3:70b');
  assert.equal(sent.options, undefined);
  const t = await lastTrace(herd);
  assert.deepEqual([t.model, t.original_model, t.fallback_reason, t.context_action], ['llama3.3:70b', 'llama3.1:8b', 'context', 'upgraded']);
  assert.equal(await reloads(), 0);
});

test('warn: num_ctx is kept and the warning logged', async () => {
  const h = await startHerd(['--context-protection', 'warn']);
  const l = heartbeatLoop(h, [a, b, c]);
  await l.ready;
  try {
    const r = await chat(h, 'llama3.3:70b', { num_ctx: 4096 });
    assert.equal(r.status, 200);
    assert.equal((await received(c)).options.num_ctx, 4096);
    assert.equal((await lastTrace(h)).context_action, 'warned');
    assert.match(h.proc.stderrText, /num_ctx 4096 sent to llama3.3:70b on c, loaded with 131072/);
  } finally {
    await l.stop();
  }
});

test('passthrough: num_ctx reaches the node untouched, no action recorded', async () => {
  const h = await startHerd([], { env: { FLEET_CONTEXT_PROTECTION: 'passthrough' } });
  const l = heartbeatLoop(h, [a, b, c]);
  await l.ready;
  try {
    const r = await chat(h, 'llama3.1:8b', { num_ctx: 2048 });
    assert.equal(r.status, 200);
    assert.equal((await received(byName()[r.headers.get('x-fleet-node')])).options.num_ctx, 2048);
    assert.equal((await lastTrace(h)).context_action, null);
  } finally {
    await l.stop();
  }
});

test('strip: nothing loaded holds it: forwarded as is, with X-Fleet-Context-Overflow', async () => {
  // c's model has been reloaded with 4096 by the warn test; the heartbeats have told herd.
  const r = await chat(herd, 'llama3.3:70b', { num_ctx: 200000 });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-node'), 'c');
  assert.match(r.headers.get('x-fleet-context-overflow'), /^200000 > \d+$/);
  assert.equal((await received(c)).options.num_ctx, 200000);
  assert.equal((await lastTrace(herd)).context_action, 'overflow');
});

test('bad values are left for the node to judge; OpenAI requests are not touched', async () => {
  const bad = await chat(herd, 'llama3.1:8b', { num_ctx: 'big' });
  const node = byName()[bad.headers.get('x-fleet-node')];
  assert.equal((await received(node)).options.num_ctx, 'big');
  assert.equal((await lastTrace(herd)).context_action, null);
  const r = await postJson(`${herd.url}/v1/chat/completions`, { model: 'llama3.1:8b', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(r.status, 200);
  assert.equal((await lastTrace(herd)).context_action, null);
});
