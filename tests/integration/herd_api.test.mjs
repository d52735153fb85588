// herd as one Ollama and one OpenAI endpoint: the official clients against every endpoint,
// streaming and not, tools included; the fleet endpoints; every bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, curl, simRequests, tempDir } from './lib/harness.mjs';

let herd;
let sims;
let loop;
let ollama;
let openai;

before(async () => {
  sims = [];
  for (const [name, args] of [
    ['alpha', ['--model', 'qwen2.5:7b=4.7', '--model', 'nomic-embed-text=0.27', '--loaded', 'qwen2.5:7b', '--loaded', 'nomic-embed-text']],
    ['beta', ['--model', 'llama3.2:1b=1.3', '--model', 'qwen3:8b=5.2', '--loaded', 'llama3.2:1b', '--ollama-version', '0.11.0']],
  ]) {
    const s = await startSim(['--name', name, ...args]);
    sims.push({ name, url: s.url, port: s.port });
  }
  herd = await startHerd(['--max-body-mb', '1', '--hold-timeout', '0.3', '--no-vram-fallback']);
  loop = heartbeatLoop(herd, sims, { alpha: { ollama_version: '0.12.6' }, beta: { ollama_version: '0.11.0' } });
  await loop.ready;
  ollama = new Ollama({ host: herd.url });
  openai = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => loop.stop());

const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

test('ollama client: chat and generate, streaming and not, tools and options reach the node', async () => {
  const r = await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], options: { temperature: 0.3, seed: 5 } });
  assert.equal(r.done, true);
  assert.ok(r.message.content.length > 0);
  let streamed = '';
  for await (const part of await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], options: { temperature: 0.3, seed: 5 }, stream: true })) streamed += part.message.content;
  assert.equal(streamed, r.message.content, 'the same bytes as the node made');
  const t = await ollama.chat({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'weather?' }], tools, format: 'json' });
  assert.equal(t.message.tool_calls[0].function.name, 'get_weather');
  const seen = (await simRequests(sims[0].url)).filter((q) => q.path === '/api/chat').at(-1);
  assert.deepEqual(seen.body.tools, tools);
  assert.equal(seen.body.format, 'json');
  assert.equal(seen.headers['user-agent'].startsWith('ollama-js/'), true);
  const g = await ollama.generate({ model: 'llama3.2:1b', prompt: 'once', images: ['aGVsbG8='] });
  assert.equal(g.done, true);
  assert.equal((await simRequests(sims[1].url)).filter((q) => q.path === '/api/generate').at(-1).body.images[0], 'aGVsbG8=');
  let n = 0;
  for await (const part of await ollama.generate({ model: 'llama3.2:1b', prompt: 'once', stream: true })) n += part.done ? 0 : 1;
  assert.ok(n >= 16);
});

test('ollama client: embed, embeddings, show, list, ps, version', async () => {
  const e = await ollama.embed({ model: 'nomic-embed-text', input: ['a', 'b'] });
  assert.equal(e.embeddings.length, 2);
  const legacy = await ollama.embeddings({ model: 'nomic-embed-text', prompt: 'a' });
  assert.equal(legacy.embedding.length, 768);
  const s = await ollama.show({ model: 'qwen3:8b' });
  assert.ok(s.capabilities.includes('thinking'));
  const tags = await ollama.list();
  const names = tags.models.map((m) => m.name).sort();
  assert.deepEqual(names, ['llama3.2:1b', 'nomic-embed-text:latest', 'qwen2.5:7b', 'qwen3:8b']);
  assert.deepEqual(tags.models.find((m) => m.name === 'qwen2.5:7b').details.fleet_nodes, ['alpha']);
  const ps = await ollama.ps();
  const loaded = ps.models.map((m) => `${m.fleet_node}/${m.name}`).sort();
  assert.deepEqual(loaded, ['alpha/nomic-embed-text:latest', 'alpha/qwen2.5:7b', 'beta/llama3.2:1b']);
  const v = await ollama.version();
  assert.equal(v.version, '0.12.6');
  const head = await curl(['-I', `${herd.url}/`]);
  assert.match(head.stdout, /^HTTP\/1\.1 200/);
});

test('openai client: chat with and without streaming, tools, usage', async () => {
  const r = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], seed: 2 });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.usage.completion_tokens > 0);
  const chunks = [];
  for await (const c of await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], seed: 2, stream: true })) chunks.push(c);
  // herd asked the node for usage to count tokens; the client did not ask, so it gets none.
  assert.ok(chunks.every((c) => c.usage === undefined));
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content || '').join(''), r.choices[0].message.content);
  const withUsage = [];
  for await (const c of await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })) withUsage.push(c);
  assert.ok(withUsage.at(-1).usage.completion_tokens > 0);
  const traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=2`)).body;
  assert.ok(traces.every((t) => t.original_format === 'openai' && t.completion_tokens > 0 && t.prompt_tokens > 0));
  const t = await openai.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'weather?' }], tools });
  assert.equal(t.choices[0].finish_reason, 'tool_calls');
  assert.equal(JSON.parse(t.choices[0].message.tool_calls[0].function.arguments).city, 'example');
});

test('openai client: completions, embeddings, models', async () => {
  const c = await openai.completions.create({ model: 'llama3.2:1b', prompt: 'Once' });
  assert.ok(c.choices[0].text.length > 0);
  const chunks = [];
  for await (const x of await openai.completions.create({ model: 'llama3.2:1b', prompt: 'Once', stream: true })) chunks.push(x);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  // Token counts are known to herd, while the client sees no usage it did not ask for.
  assert.ok(chunks.every((x) => x.usage === undefined));
  assert.equal(chunks.map((x) => x.choices[0].text).join(''), c.choices[0].text);
  const trace = (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];
  assert.equal(trace.completion_tokens, c.usage.completion_tokens);
  assert.equal(trace.prompt_tokens, c.usage.prompt_tokens);
  assert.equal(trace.status, 'completed');
  const e = await openai.embeddings.create({ model: 'nomic-embed-text', input: 'x' });
  assert.equal(e.data[0].embedding.length, 768);
  const models = await openai.models.list();
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['llama3.2:1b', 'nomic-embed-text:latest', 'qwen2.5:7b', 'qwen3:8b']);
  const one = await openai.models.retrieve('qwen2.5:7b');
  assert.equal(one.id, 'qwen2.5:7b');
  await assert.rejects(openai.models.retrieve('nope'), (err) => err instanceof OpenAI.NotFoundError);
});

test('fleet status and queue describe nodes and queues', async () => {
  const s = (await getJson(`${herd.url}/fleet/status`)).body;
  assert.equal(s.fleet.nodes_total, 2);
  assert.equal(s.fleet.nodes_online, 2);
  const alpha = s.nodes.find((n) => n.node_id === 'alpha');
  assert.equal(alpha.status, 'online');
  assert.equal(alpha.ollama_url, sims[0].url);
  assert.equal(alpha.memory.available_gb, 48);
  assert.ok(Object.keys(s.queues).includes('alpha:qwen2.5:7b'));
  const q = s.queues['alpha:qwen2.5:7b'];
  assert.ok(q.completed > 0);
  for (const k of ['pending', 'in_flight', 'completed', 'failed', 'concurrency', 'avg_latency_ms']) assert.ok(k in q, k);
  const fq = (await getJson(`${herd.url}/fleet/queue`)).body;
  assert.equal(fq.nodes_online, 2);
  assert.equal(fq.pending, 0);
});

test('bad input gets a clear error in each API\'s shape', async () => {
  const native = [
    ['/api/chat', '{"model":', 400, /invalid JSON/],
    ['/api/chat', '[1]', 400, /must be a JSON object/],
    ['/api/chat', '{"messages":[]}', 400, /model is required/],
    ['/api/generate', '{"model":5}', 400, /model is required/],
    ['/api/chat', '{"model":"no-such-model","messages":[]}', 404, /model 'no-such-model' not found/],
    ['/api/embed', '{"model":"bad name","input":"x"}', 400, /invalid model name/],
  ];
  for (const [path, body, status, re] of native) {
    const r = await postJson(`${herd.url}${path}`, body);
    assert.equal(r.status, status, `${path} ${body}`);
    assert.equal(typeof r.body.error, 'string');
    assert.match(r.body.error, re);
  }
  const oai = await postJson(`${herd.url}/v1/chat/completions`, '{"model":');
  assert.equal(oai.status, 400);
  assert.equal(oai.body.error.type, 'invalid_request_error');
  const missing = await postJson(`${herd.url}/v1/chat/completions`, { model: 'ghost', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.type, 'not_found_error');
  await assert.rejects(ollama.chat({ model: 'ghost', messages: [{ role: 'user', content: 'x' }] }), (e) => e.status_code === 404);
  // A node's own errors (here: a wrong option type) come through unchanged.
  const wrong = await postJson(`${herd.url}/api/chat`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'x' }], options: { num_ctx: 'big' } });
  assert.equal(wrong.status, 500);
  assert.deepEqual(wrong.body, { error: 'option "num_ctx" must be of type integer' });
  // Bodies over --max-body-mb (1 here) are refused before they are read whole.
  const file = join(tempDir(), 'big.json');
  writeFileSync(file, 'x'.repeat(2 * 1024 * 1024));
  const big = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${herd.url}/api/chat`, '--data-binary', `@${file}`]);
  assert.equal(big.stdout, '413');
  const unknown = await getJson(`${herd.url}/api/nothing`);
  assert.deepEqual([unknown.status, unknown.body], [404, '404 page not found']);
  const method = await getJson(`${herd.url}/api/chat`);
  assert.equal(method.status, 405);
  const hb = await postJson(`${herd.url}/heartbeat`, { node_id: 'x', memory: { total_gb: 'many' } });
  assert.equal(hb.status, 400);
  assert.match(hb.body.error, /memory.total_gb must be a number/);
  const tr = await getJson(`${herd.url}/dashboard/api/traces?limit=zero`);
  assert.equal(tr.status, 400);
});

test('a model only an offline node has gets 503 with the reason; a node that leaves is not used', async () => {
  const lone = await startSim(['--name', 'gamma', '--model', 'phi4:latest=9']);
  const node = { name: 'gamma', url: lone.url, port: lone.port };
  const { heartbeatFor, postHeartbeat } = await import('./lib/harness.mjs');
  await postHeartbeat(herd, await heartbeatFor(node));
  const ok = await postJson(`${herd.url}/api/generate`, { model: 'phi4', prompt: 'x', stream: false });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('x-fleet-node'), 'gamma');
  await postHeartbeat(herd, { node_id: 'gamma', draining: true });
  const gone = await postJson(`${herd.url}/api/generate`, { model: 'phi4', prompt: 'x', stream: false });
  assert.equal(gone.status, 503);
  assert.match(gone.body.error, /no node can serve model 'phi4:latest' now \(gamma: offline\); waited 0 s/);
});

test('a latency.db of an older herd gains the new trace columns and keeps its rows', async () => {
  const dir = tempDir();
  const db = join(dir, 'latency.db');
  // The first schema: request_traces without fallback_reason, context_action, auto_pulled, app.
  const old = spawnSync('sqlite3', [db, "CREATE TABLE request_traces (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, model TEXT NOT NULL, original_model TEXT NOT NULL, node_id TEXT NOT NULL, score REAL, scores_breakdown TEXT, status TEXT NOT NULL, latency_ms REAL, time_to_first_token_ms REAL, prompt_tokens INTEGER, completion_tokens INTEGER, retry_count INTEGER DEFAULT 0, fallback_used INTEGER DEFAULT 0, excluded_nodes TEXT, client_ip TEXT, original_format TEXT, error_message TEXT, timestamp REAL NOT NULL, tags TEXT); INSERT INTO request_traces (request_id, model, original_model, node_id, status, timestamp) VALUES ('old', 'm', 'm', 'n', 'completed', CAST(strftime('%s', 'now') AS REAL) - 60); PRAGMA user_version = 1;"], { encoding: 'utf8' });
  assert.equal(old.status, 0, old.stderr);
  const h = await startHerd(['--data-dir', dir]);
  const l = heartbeatLoop(h, sims);
  await l.ready;
  try {
    const r = await postJson(`${h.url}/api/generate`, { model: 'qwen2.5:7b', prompt: 'x', stream: false, options: { num_ctx: 512 } });
    assert.equal(r.status, 200);
    const rows = (await getJson(`${h.url}/dashboard/api/traces?limit=2`)).body;
    assert.equal(rows[0].context_action, 'stripped');
    assert.equal(rows[0].auto_pulled, false);
    assert.equal(rows[1].request_id, 'old');
    assert.equal(rows[0].app, null, 'no key, no app');
    const version = spawnSync('sqlite3', [db, 'PRAGMA user_version'], { encoding: 'utf8' });
    assert.equal(version.stdout.trim(), '3');
  } finally {
    await l.stop();
  }
});
