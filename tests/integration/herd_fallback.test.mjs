// fallback_models: tried in order, a loaded fallback beats a cold primary; the served model is
// what the node is asked for; neither fallback_models nor metadata reach Ollama.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, simRequests } from './lib/harness.mjs';

let herd;
let a;
let b;
let loop;
before(async () => {
  const sa = await startSim(['--name', 'a', '--model', 'llama3.3:70b=42', '--model', 'qwen2.5:32b=20', '--memory-gb', '200']);
  const sb = await startSim(['--name', 'b', '--model', 'qwen2.5:7b=4.7', '--model', 'mistral:latest=4.1', '--loaded', 'qwen2.5:7b']);
  a = { name: 'a', url: sa.url };
  b = { name: 'b', url: sb.url };
  herd = await startHerd();
  loop = heartbeatLoop(herd, [a, b], { a: { memory: { total_gb: 256, available_gb: 200 } } });
  await loop.ready;
});
after(() => loop.stop());

const lastBody = async (node, path) => (await simRequests(node.url)).filter((q) => q.path === path).at(-1)?.body;
const lastTrace = async () => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];

test('a loaded fallback beats a cold primary; the node is asked for the fallback', async () => {
  const r = await postJson(`${herd.url}/api/chat`, {
    model: 'llama3.3:70b', fallback_models: ['qwen2.5:32b', 'qwen2.5:7b'], metadata: { tags: ['app:x'] },
    messages: [{ role: 'user', content: 'hi' }], stream: false,
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-node'), 'b');
  assert.equal(r.headers.get('x-fleet-fallback'), 'qwen2.5:7b');
  assert.equal(r.body.model, 'qwen2.5:7b');
  const sent = await lastBody(b, '/api/chat');
  assert.equal(sent.model, 'qwen2.5:7b');
  assert.equal(sent.fallback_models, undefined);
  assert.equal(sent.metadata, undefined);
  assert.equal(sent.messages[0].content, 'hi');
  const t = await lastTrace();
  assert.deepEqual([t.model, t.original_model, t.fallback_used], ['qwen2.5:7b', 'llama3.3:70b', true]);
});

test('with nothing loaded in the chain, the first model a node has is used, in order', async () => {
  const r = await postJson(`${herd.url}/api/generate`, { model: 'ghost:1b', fallback_models: ['qwen2.5:32b', 'mistral'], prompt: 'x', stream: false });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-fallback'), 'qwen2.5:32b');
  assert.equal(r.headers.get('x-fleet-node'), 'a');
});

test('a loaded primary is served; fallback_models are still not forwarded', async () => {
  const r = await postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:7b', fallback_models: ['mistral'], messages: [{ role: 'user', content: 'x' }], stream: false });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-fleet-fallback'), null);
  assert.equal(r.body.model, 'qwen2.5:7b');
  assert.equal((await lastBody(b, '/api/chat')).fallback_models, undefined);
  const t = await lastTrace();
  assert.equal(t.fallback_used, false);
});

test('the openai client with fallback_models; bad chains are refused', async () => {
  const openai = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const r = await openai.chat.completions.create({ model: 'llama3.3:70b', fallback_models: ['qwen2.5:7b'], messages: [{ role: 'user', content: 'x' }] });
  assert.equal(r.model, 'qwen2.5:7b');
  const bad = await postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:7b', fallback_models: 'mistral', messages: [] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /fallback_models must be a list/);
  const embed = await postJson(`${herd.url}/api/embed`, { model: 'qwen2.5:7b', fallback_models: ['mistral'], input: 'x' });
  assert.equal(embed.status, 400);
});
