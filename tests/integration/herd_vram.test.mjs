// VRAM fallback: a model loaded nowhere is served by a loaded model of the same category
// that can do what the request needs, rather than cold-loaded; never across chat and
// embedding, never into a model without tools or vision the request uses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, simRequests } from './lib/harness.mjs';

let herd;
let a;
let b;
let loop;
before(async () => {
  // a: llama3.1:8b (tools) and nomic-embed-text loaded; b: llama3:8b (no tools) loaded.
  const sa = await startSim(['--name', 'a', '--memory-gb', '128', '--model', 'llama3.1:8b=4.9', '--model', 'qwen2.5:7b=4.7',
    '--model', 'nomic-embed-text=0.3', '--model', 'gemma3:4b=3.3', '--model', 'llama3.3:70b=42', '--loaded', 'llama3.1:8b', '--loaded', 'nomic-embed-text']);
  const sb = await startSim(['--name', 'b', '--memory-gb', '64', '--model', 'llama3:8b=4.7', '--model', 'mxbai-embed-large=0.7',
    '--model', 'qwen2.5-coder:7b=4.7', '--loaded', 'llama3:8b']);
  a = { name: 'a', url: sa.url };
  b = { name: 'b', url: sb.url };
  herd = await startHerd();
  loop = heartbeatLoop(herd, [a, b]);
  await loop.ready;
});
after(() => loop.stop());

const chat = (model, extra = {}) => postJson(`${herd.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hi' }], stream: false, ...extra });
const lastTrace = async () => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];
const asked = async (node, path) => (await simRequests(node.url)).filter((q) => q.path === path).map((q) => q.body.model);
const tools = [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object', properties: {} } } }];

test('a cold model is served by the loaded model of its category closest in size', async () => {
  const r = await chat('qwen2.5:7b');
  assert.equal(r.status, 200);
  // llama3:8b (4.7 GB) is closer to qwen2.5:7b (4.7 GB) than llama3.1:8b (4.9 GB).
  assert.equal(r.headers.get('x-fleet-fallback'), 'llama3:8b');
  assert.equal(r.headers.get('x-fleet-node'), 'b');
  assert.equal(r.body.model, 'llama3:8b');
  assert.deepEqual((await asked(b, '/api/chat')).at(-1), 'llama3:8b');
  assert.ok(!(await asked(a, '/api/chat')).includes('qwen2.5:7b'), 'qwen2.5:7b was never loaded');
  const t = await lastTrace();
  assert.deepEqual([t.model, t.original_model, t.fallback_used, t.fallback_reason, t.status],
    ['llama3:8b', 'qwen2.5:7b', true, 'vram', 'completed']);
});

test('a request with tools only goes to a loaded model that has tools', async () => {
  const r = await chat('qwen2.5:7b', { tools });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-fallback'), 'llama3.1:8b');
  assert.equal(r.headers.get('x-fleet-node'), 'a');
  assert.equal((await lastTrace()).fallback_reason, 'vram');
});

test('images: no loaded model of the category has vision, so the model itself is loaded', async () => {
  const r = await chat('gemma3:4b', { messages: [{ role: 'user', content: 'what is this?', images: ['aGVsbG8='] }] });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-fallback'), null);
  assert.equal(r.headers.get('x-fleet-node'), 'a');
  assert.equal(r.body.model, 'gemma3:4b');
  const t = await lastTrace();
  assert.deepEqual([t.model, t.fallback_used, t.fallback_reason], ['gemma3:4b', false, null]);
});

test('embeddings are never served by another model, and chats never by an embedding model', async () => {
  const e = await postJson(`${herd.url}/api/embed`, { model: 'mxbai-embed-large', input: 'x' });
  assert.equal(e.status, 200);
  assert.equal(e.headers.get('x-fleet-fallback'), null);
  assert.equal(e.body.model, 'mxbai-embed-large');
  assert.deepEqual((await asked(b, '/api/embed')).at(-1), 'mxbai-embed-large');
  // A coding model: only general models and an embedding model are loaded, so it loads.
  const c = await chat('qwen2.5-coder:7b');
  assert.equal(c.status, 200);
  assert.equal(c.headers.get('x-fleet-fallback'), null);
  assert.equal(c.body.model, 'qwen2.5-coder:7b');
  for (const n of [a, b]) assert.ok(!(await asked(n, '/api/chat')).some((m) => /embed/.test(m)));
});

test('FLEET_VRAM_FALLBACK=false: the cold model is loaded', async () => {
  const h = await startHerd([], { env: { FLEET_VRAM_FALLBACK: 'false' } });
  const l = heartbeatLoop(h, [a, b]);
  await l.ready;
  try {
    const r = await postJson(`${h.url}/api/chat`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }], stream: false });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-fallback'), null);
    assert.equal(r.body.model, 'qwen2.5:7b');
    assert.equal(r.headers.get('x-fleet-node'), 'a');
  } finally {
    await l.stop();
  }
});

test('never a model less than half the size asked for: a cold 70b is loaded, not served by an 8b', async () => {
  const r = await chat('llama3.3:70b');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get('x-fleet-fallback'), null);
  assert.equal(r.body.model, 'llama3.3:70b');
  assert.equal((await lastTrace()).fallback_used, false);
});
