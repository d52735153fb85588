// herd-sim speaks the OpenAI-compatible API: driven with the official openai client and curl.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSim, getJson, postJson, curl, sseData } from './lib/harness.mjs';

let sim;
let openai;
before(async () => {
  sim = await startSim(['--model', 'qwen2.5:7b=4.7', '--model', 'qwen3:8b=5.2', '--model', 'nomic-embed-text=0.27', '--model', 'user/custom:1b=0.8', '--loaded', 'qwen2.5:7b']);
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

test('chat completion, non-streaming', async () => {
  const r = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hello' }], seed: 3 });
  assert.match(r.id, /^chatcmpl-\d+$/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'qwen2.5:7b');
  assert.equal(r.system_fingerprint, 'fp_ollama');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.usage.completion_tokens >= 16);
});

test('chat completion, streaming with usage: role first, finish chunk, usage chunk, [DONE]', async () => {
  const stream = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hello' }], seed: 3, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.ok(chunks.slice(1, -2).every((c) => c.choices[0].delta.role === undefined));
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id && c.created === chunks[0].created));
  const finish = chunks.at(-2);
  assert.deepEqual(finish.choices[0].delta, {});
  assert.equal(finish.choices[0].finish_reason, 'stop');
  const usage = chunks.at(-1);
  assert.deepEqual(usage.choices, []);
  const text = chunks.slice(0, -2).map((c) => c.choices[0].delta.content).join('');
  const whole = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hello' }], seed: 3 });
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(usage.usage.completion_tokens, whole.usage.completion_tokens);

  const raw = await curl(['-N', '-i', `${sim.url}/v1/chat/completions`, '-d', JSON.stringify({ model: 'qwen2.5:7b', stream: true, messages: [{ role: 'user', content: 'x' }] })]);
  assert.match(raw.stdout, /content-type: text\/event-stream/i);
  const events = sseData(raw.stdout.split('\r\n\r\n').slice(1).join('\r\n\r\n'));
  assert.equal(events.at(-1), '[DONE]');
  assert.ok(!events.slice(0, -1).some((e) => JSON.parse(e).usage), 'no usage without include_usage');
});

test('max_tokens gives finish_reason length; stop and options are mapped for Ollama', async () => {
  const r = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }], max_tokens: 2, stop: 'END', temperature: 0.2 });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 2);
});

test('tools: the reply carries OpenAI tool calls with string arguments', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
  const r = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'find it' }], tools });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.tool_calls[0].type, 'function');
  assert.equal(m.tool_calls[0].function.name, 'lookup');
  assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { q: 'example' });
  // The tool's answer goes back; the model then answers in text.
  const follow = await openai.chat.completions.create({ model: 'qwen2.5:7b', tools, messages: [
    { role: 'user', content: 'find it' }, m,
    { role: 'tool', tool_call_id: m.tool_calls[0].id, content: 'found' }] });
  assert.equal(follow.choices[0].finish_reason, 'stop');
  assert.ok(follow.choices[0].message.content.length > 0);
  // Streaming: one delta with the whole call, then a tool_calls finish.
  const chunks = [];
  for await (const c of await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'find it' }], tools, stream: true })) chunks.push(c);
  assert.equal(chunks.filter((c) => c.choices[0]?.delta.tool_calls).length, 1);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
});

test('reasoning models put thinking in reasoning; response_format json_object', async () => {
  const r = await openai.chat.completions.create({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'think' }] });
  assert.ok(r.choices[0].message.reasoning.length > 0);
  const none = await openai.chat.completions.create({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'think' }], reasoning_effort: 'none' });
  assert.equal(none.choices[0].message.reasoning, undefined);
  const j = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'j' }], response_format: { type: 'json_object' } });
  assert.equal(typeof JSON.parse(j.choices[0].message.content), 'object');
});

test('completions: non-streaming and streaming with the usage quirk', async () => {
  const r = await openai.completions.create({ model: 'qwen2.5:7b', prompt: 'Once', seed: 1 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-\d+$/);
  assert.ok(r.choices[0].text.length > 0);
  const chunks = [];
  for await (const c of await openai.completions.create({ model: 'qwen2.5:7b', prompt: 'Once', seed: 1, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
  assert.deepEqual(chunks[0].usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-1).usage.completion_tokens, r.usage.completion_tokens);
  assert.equal(chunks.slice(0, -1).map((c) => c.choices[0].text).join(''), r.choices[0].text);
  const bad = await postJson(`${sim.url}/v1/completions`, { model: 'qwen2.5:7b', prompt: ['a'] });
  assert.equal(bad.status, 400);
});

test('models: list and retrieve, including a namespaced id; unknown is NotFoundError', async () => {
  const list = await openai.models.list();
  const ids = list.data.map((m) => m.id).sort();
  assert.deepEqual(ids, ['nomic-embed-text:latest', 'qwen2.5:7b', 'qwen3:8b', 'user/custom:1b']);
  assert.equal(list.data.find((m) => m.id === 'user/custom:1b').owned_by, 'user');
  assert.equal(list.data.find((m) => m.id === 'qwen2.5:7b').owned_by, 'library');
  const one = await openai.models.retrieve('qwen2.5:7b');
  assert.deepEqual([one.id, one.object], ['qwen2.5:7b', 'model']);
  const ns = await openai.models.retrieve('user/custom:1b');
  assert.equal(ns.id, 'user/custom:1b');
  await assert.rejects(openai.models.retrieve('missing'), (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.error.type === 'not_found_error');
  const empty = await startSim([]);
  assert.deepEqual((await getJson(`${empty.url}/v1/models`)).body, { object: 'list', data: null });
  await empty.stop();
});

test('embeddings: base64 by default through the client, floats on request', async () => {
  const r = await openai.embeddings.create({ model: 'nomic-embed-text', input: ['one', 'two'] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 768);
  assert.ok(Math.abs(Math.hypot(...r.data[0].embedding) - 1) < 1e-3);
  const f = await postJson(`${sim.url}/v1/embeddings`, { model: 'nomic-embed-text', input: 'one', encoding_format: 'float' });
  assert.equal(f.body.object, 'list');
  for (let i = 0; i < 768; i += 97) assert.ok(Math.abs(f.body.data[0].embedding[i] - r.data[0].embedding[i]) < 1e-6);
  assert.equal(f.body.usage.prompt_tokens, f.body.usage.total_tokens);
  const d = await openai.embeddings.create({ model: 'nomic-embed-text', input: 'one', dimensions: 32 });
  assert.equal(d.data[0].embedding.length, 32);
  const bad = await postJson(`${sim.url}/v1/embeddings`, { model: 'nomic-embed-text', input: 'x', encoding_format: 'hex' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /Supported values: \['float', 'base64'\]/);
  await assert.rejects(openai.embeddings.create({ model: 'nomic-embed-text', input: [] }), (e) => e.status === 400 && e.message === '400 invalid input');
});

test('errors come in OpenAI shape with the right status', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.message === "404 model 'nope' not found");
  const r = await postJson(`${sim.url}/v1/chat/completions`, { model: 'qwen2.5:7b', messages: [] });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { error: { message: "[] is too short - 'messages'", type: 'invalid_request_error', param: null, code: null } });
  assert.equal(r.headers.get('content-type'), 'application/json');
  const url = await postJson(`${sim.url}/v1/chat/completions`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.invalid/x.png' } }] }] });
  assert.equal(url.status, 400);
  assert.match(url.body.error.message, /image URLs are not currently supported/);
  const json = await postJson(`${sim.url}/v1/chat/completions`, '{nope');
  assert.equal(json.status, 400);
  assert.equal(json.body.error.type, 'invalid_request_error');
});
