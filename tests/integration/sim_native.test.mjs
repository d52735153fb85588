// herd-sim speaks Ollama's native API: driven with curl, fetch and the official ollama client.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startSim, getJson, postJson, ndjson, curl, simRequests } from './lib/harness.mjs';

let sim;
let ollama;
before(async () => {
  sim = await startSim([
    '--model', 'qwen2.5:7b=4.7', '--model', 'qwen3:8b=5.2', '--model', 'nomic-embed-text=0.27',
    '--model', 'llava:7b=4.5', '--loaded', 'qwen2.5:7b', '--ollama-version', '0.12.6',
  ]);
  ollama = new Ollama({ host: sim.url });
});

test('root, HEAD and version answer like Ollama', async () => {
  const root = await curl(['-i', `${sim.url}/`]);
  assert.match(root.stdout, /^HTTP\/1\.1 200/);
  assert.match(root.stdout, /content-type: text\/plain; charset=utf-8/i);
  assert.match(root.stdout, /Ollama is running$/);
  const head = await curl(['-I', `${sim.url}/`]);
  assert.match(head.stdout, /^HTTP\/1\.1 200/);
  assert.match(head.stdout, /content-length: 17/i);
  assert.deepEqual(await ollama.version(), { version: '0.12.6' });
  const tagsHead = await curl(['-I', `${sim.url}/api/tags`]);
  assert.match(tagsHead.stdout, /^HTTP\/1\.1 200/);
});

test('unknown paths get 404 and wrong methods 405, as plain text', async () => {
  const r = await getJson(`${sim.url}/api/nothing`);
  assert.equal(r.status, 404);
  assert.equal(r.body, '404 page not found');
  const m = await getJson(`${sim.url}/api/show`);
  assert.equal(m.status, 405);
  assert.equal(m.body, '405 method not allowed');
});

test('tags lists every model with details, digest and capabilities', async () => {
  const { models } = await ollama.list();
  const names = models.map((m) => m.name).sort();
  assert.deepEqual(names, ['llava:7b', 'nomic-embed-text:latest', 'qwen2.5:7b', 'qwen3:8b']);
  const q = models.find((m) => m.name === 'qwen2.5:7b');
  assert.equal(q.size, 4.7e9);
  assert.match(q.digest, /^[0-9a-f]{64}$/);
  assert.equal(q.details.family, 'qwen2');
  assert.equal(q.details.parent_model, '');
  assert.deepEqual(q.capabilities, ['completion', 'tools']);
  assert.deepEqual(models.find((m) => m.name === 'nomic-embed-text:latest').capabilities, ['embedding']);
});

test('ps shows loaded models with context_length, size_vram and expires_at', async () => {
  const { models } = await ollama.ps();
  assert.equal(models.length, 1);
  const m = models[0];
  assert.equal(m.name, 'qwen2.5:7b');
  assert.equal(m.context_length, 32768);
  assert.equal(m.size_vram, m.size);
  assert.ok(m.size > 4.7e9, 'size includes the KV cache');
  assert.ok(Date.parse(m.expires_at) > Date.now());
});

test('show describes a model; unknown and missing models are errors', async () => {
  const s = await ollama.show({ model: 'qwen2.5:7b' });
  assert.equal(s.details.family, 'qwen2');
  assert.equal(s.model_info['qwen2.context_length'], 32768);
  assert.deepEqual(s.capabilities, ['completion', 'tools']);
  await assert.rejects(ollama.show({ model: 'nope' }), (e) => e.status_code === 404 && e.error === "model 'nope:latest' not found");
  const r = await postJson(`${sim.url}/api/show`, {});
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { error: 'model is required' });
});

test('chat streams NDJSON chunks and a final line with metrics (curl)', async () => {
  const r = await curl(['-N', '-i', `${sim.url}/api/chat`, '-d',
    JSON.stringify({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hello' }] })]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /content-type: application\/x-ndjson/i);
  assert.match(r.stdout, /transfer-encoding: chunked/i);
  const lines = r.stdout.split('\r\n\r\n')[1].split('\n').filter((l) => l).map((l) => JSON.parse(l));
  assert.ok(lines.length >= 17, 'at least 16 tokens and the final line');
  const first = lines[0];
  assert.deepEqual(Object.keys(first), ['model', 'created_at', 'message', 'done']);
  assert.equal(first.model, 'qwen2.5:7b');
  assert.match(first.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(first.message.role, 'assistant');
  assert.equal(first.done, false);
  assert.equal(first.total_duration, undefined, 'no metrics before the end');
  const last = lines.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'stop');
  assert.equal(last.message.content, '');
  assert.equal(last.eval_count, lines.length - 1);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_duration']) {
    assert.ok(Number.isInteger(last[k]) && last[k] > 0, `${k} is a positive integer`);
  }
});

test('chat through the ollama client: non-streaming and streaming agree for a seed', async () => {
  const req = { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'tell me' }], options: { seed: 7 } };
  const whole = await ollama.chat(req);
  assert.equal(whole.done, true);
  assert.ok(whole.message.content.length > 0);
  let text = '';
  let final;
  for await (const part of await ollama.chat({ ...req, stream: true })) {
    text += part.message.content;
    if (part.done) final = part;
  }
  assert.equal(text, whole.message.content, 'same seed, same reply');
  assert.equal(final.eval_count, whole.eval_count);
  const again = await ollama.chat(req);
  assert.equal(again.message.content, whole.message.content);
  const other = await ollama.chat({ ...req, options: { seed: 8 } });
  assert.notEqual(other.message.content, whole.message.content);
});

test('num_predict limits the reply and sets done_reason length', async () => {
  const r = await ollama.generate({ model: 'qwen2.5:7b', prompt: 'count', options: { num_predict: 3 } });
  assert.equal(r.eval_count, 3);
  assert.equal(r.done_reason, 'length');
  assert.ok(Array.isArray(r.context) && r.context.length > 3);
});

test('generate streams response chunks; the model name is echoed as sent', async () => {
  const res = await fetch(`${sim.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'QWEN2.5:7b', prompt: 'hi' }) });
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const lines = await ndjson(res);
  assert.ok(lines.every((l) => l.model === 'QWEN2.5:7b'));
  assert.equal(typeof lines[0].response, 'string');
  assert.equal(lines.at(-1).done, true);
});

test('tools produce a tool call with arguments from the schema', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } }];
  const r = await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'weather in Paris?' }], tools });
  assert.equal(r.message.content, '');
  assert.equal(r.message.tool_calls.length, 1);
  const call = r.message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.equal(call.function.arguments.city, 'example');
  assert.equal(typeof call.function.arguments.days, 'number');
  // Streamed, the call arrives on a done:false chunk before the final line.
  const parts = [];
  for await (const p of await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'weather in Paris?' }], tools, stream: true })) parts.push(p);
  const withCall = parts.filter((p) => p.message.tool_calls);
  assert.equal(withCall.length, 1);
  assert.equal(withCall[0].done, false);
  // A model without the tools capability refuses.
  await assert.rejects(ollama.chat({ model: 'llava:7b', messages: [{ role: 'user', content: 'x' }], tools }),
    (e) => e.status_code === 400 && /does not support tools/.test(e.error));
});

test('thinking models stream reasoning first; others refuse think', async () => {
  const r = await ollama.chat({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'why?' }] });
  assert.ok(r.message.thinking.length > 0);
  assert.ok(r.message.content.length > 0);
  const off = await ollama.chat({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'why?' }], think: false });
  assert.equal(off.message.thinking, undefined);
  await assert.rejects(ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }], think: true }),
    (e) => e.status_code === 400 && e.error === '"qwen2.5:7b" does not support thinking');
});

test('format json returns valid JSON text that follows a schema', async () => {
  const schema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } } };
  const r = await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'who?' }], format: schema });
  const v = JSON.parse(r.message.content);
  assert.equal(typeof v.name, 'string');
  assert.equal(typeof v.age, 'number');
  const j = await ollama.generate({ model: 'qwen2.5:7b', prompt: 'json', format: 'json' });
  assert.equal(typeof JSON.parse(j.response), 'object');
});

test('images reach the prompt and cost tokens', async () => {
  const png = Buffer.from('not really a png but base64 all the same').toString('base64');
  const plain = await ollama.chat({ model: 'llava:7b', messages: [{ role: 'user', content: 'look' }] });
  const withImage = await ollama.chat({ model: 'llava:7b', messages: [{ role: 'user', content: 'look', images: [png] }] });
  assert.equal(withImage.prompt_eval_count - plain.prompt_eval_count, 256);
});

test('empty prompt loads the model; keep_alive 0 unloads it', async () => {
  const load = await postJson(`${sim.url}/api/generate`, { model: 'llava:7b' });
  assert.equal(load.status, 200);
  assert.deepEqual({ ...load.body, created_at: undefined }, { model: 'llava:7b', created_at: undefined, response: '', done: true, done_reason: 'load' });
  assert.ok((await ollama.ps()).models.some((m) => m.name === 'llava:7b'));
  const unload = await postJson(`${sim.url}/api/chat`, { model: 'llava:7b', messages: [], keep_alive: 0 });
  assert.equal(unload.body.done_reason, 'unload');
  assert.ok(!(await ollama.ps()).models.some((m) => m.name === 'llava:7b'));
});

test('embed returns normalised vectors; legacy embeddings a raw one', async () => {
  const r = await ollama.embed({ model: 'nomic-embed-text', input: ['a', 'b'] });
  assert.equal(r.model, 'nomic-embed-text');
  assert.equal(r.embeddings.length, 2);
  assert.equal(r.embeddings[0].length, 768);
  const norm = Math.hypot(...r.embeddings[0]);
  assert.ok(Math.abs(norm - 1) < 1e-3);
  assert.ok(r.prompt_eval_count >= 2);
  const again = await ollama.embed({ model: 'nomic-embed-text', input: 'a' });
  assert.deepEqual(again.embeddings[0], r.embeddings[0], 'deterministic');
  const cut = await ollama.embed({ model: 'nomic-embed-text', input: 'a', dimensions: 64 });
  assert.equal(cut.embeddings[0].length, 64);
  const legacy = await ollama.embeddings({ model: 'nomic-embed-text', prompt: 'a' });
  assert.equal(legacy.embedding.length, 768);
  assert.ok(Math.abs(Math.hypot(...legacy.embedding) - 1) > 0.1, 'not normalised');
  const empty = await postJson(`${sim.url}/api/embed`, { model: 'nomic-embed-text' });
  assert.deepEqual(empty.body, { model: 'nomic-embed-text', embeddings: [] });
  const bad = await postJson(`${sim.url}/api/embed`, { model: 'nomic-embed-text', input: 5 });
  assert.deepEqual([bad.status, bad.body], [400, { error: 'invalid input type' }]);
  const unknown = await postJson(`${sim.url}/api/embed`, { model: 'x', input: 'a' });
  assert.deepEqual([unknown.status, unknown.body], [404, { error: 'model "x" not found, try pulling it first' }]);
  const long = await postJson(`${sim.url}/api/embed`, { model: 'nomic-embed-text', input: 'w '.repeat(3000), truncate: false });
  assert.deepEqual([long.status, long.body], [400, { error: 'the input length exceeds the context length' }]);
});

test('errors before a stream are JSON with Ollama status codes', async () => {
  const cases = [
    [{ model: 'nope', messages: [] }, 404, "model 'nope' not found"],
    [{ messages: [] }, 400, 'model is required'],
    [{ model: 'nomic-embed-text', messages: [{ role: 'user', content: 'x' }] }, 400, '"nomic-embed-text" does not support chat'],
    [{ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }], options: { num_ctx: 'big' } }, 500, 'option "num_ctx" must be of type integer'],
    [{ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }], keep_alive: '3600' }, 400, 'time: missing unit in duration "3600"'],
  ];
  for (const [body, status, error] of cases) {
    const r = await postJson(`${sim.url}/api/chat`, body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.deepEqual(r.body, { error });
    assert.match(r.headers.get('content-type'), /^application\/json/);
  }
  const bad = await postJson(`${sim.url}/api/chat`, '{"model": ');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /invalid JSON/);
  const empty = await getJson(`${sim.url}/api/chat`, { method: 'POST' });
  assert.deepEqual([empty.status, empty.body], [400, { error: 'missing request body' }]);
  const gen = await postJson(`${sim.url}/api/generate`, { prompt: 'x' });
  assert.deepEqual([gen.status, gen.body], [404, { error: "model '' not found" }]);
  await assert.rejects(ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status_code === 404 && e.error === "model 'nope' not found");
});

test('pull streams progress and adds the model; unknown models fail mid-stream', async () => {
  const seen = [];
  for await (const p of await ollama.pull({ model: 'all-minilm', stream: true })) seen.push(p.status);
  assert.equal(seen[0], 'pulling manifest');
  assert.ok(seen.some((s) => /^pulling [0-9a-f]{12}$/.test(s)));
  assert.deepEqual(seen.slice(-3), ['verifying sha256 digest', 'writing manifest', 'success']);
  assert.ok((await ollama.list()).models.some((m) => m.name === 'all-minilm:latest'));
  // Non-streaming: one object.
  assert.deepEqual(await ollama.pull({ model: 'all-minilm' }), { status: 'success' });
  // Unknown: the manifest line, then an error line (the client throws it).
  await assert.rejects(async () => { for await (const _ of await ollama.pull({ model: 'no-such-model', stream: true })); },
    /pull model manifest: file does not exist/);
  const r = await curl(['-N', `${sim.url}/api/pull`, '-d', '{"model":"no-such-model"}']);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines, [{ status: 'pulling manifest' }, { error: 'pull model manifest: file does not exist' }]);
});

test('delete removes a model (DELETE with a body); unknown is 404', async () => {
  await ollama.pull({ model: 'qwen2.5:0.5b' });
  assert.deepEqual(await ollama.delete({ model: 'qwen2.5:0.5b' }), { status: 'success' });
  assert.ok(!(await ollama.list()).models.some((m) => m.name === 'qwen2.5:0.5b'));
  const r = await curl(['-i', '-X', 'DELETE', `${sim.url}/api/delete`, '-d', '{"model":"qwen2.5:0.5b"}']);
  assert.match(r.stdout, /^HTTP\/1\.1 404/);
  assert.match(r.stdout, /\{"error":"model 'qwen2.5:0.5b' not found"\}/);
  const ok = await curl(['-i', '-X', 'DELETE', `${sim.url}/api/delete`, '-d', '{"name":"all-minilm"}']);
  assert.match(ok.stdout, /^HTTP\/1\.1 200/);
  assert.match(ok.stdout, /content-length: 0/i);
});

test('the simulator records what it received', async () => {
  await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'recorded' }], options: { temperature: 0.1 } });
  const reqs = await simRequests(sim.url);
  const last = reqs.filter((r) => r.path === '/api/chat').at(-1);
  assert.equal(last.method, 'POST');
  assert.equal(last.body.messages[0].content, 'recorded');
  assert.equal(last.body.options.temperature, 0.1);
  assert.equal(last.body.stream, false, 'ollama-js sends stream:false');
  assert.match(last.headers['user-agent'], /^ollama-js\//);
});
