// What herd does when a node misbehaves (before automatic retries, which come with the fault
// tolerance work): the client is told in its API's shape, and the trace says what happened.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, curl, fault, clearFaults, simState, eventually, sleep } from './lib/harness.mjs';

let herd;
let node;
let loop;
const lastTrace = async () => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];

before(async () => {
  const s = await startSim(['--name', 'flaky', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '30-30']);
  node = { name: 'flaky', url: s.url, port: s.port, sim: s };
  herd = await startHerd();
  loop = heartbeatLoop(herd, [node]);
  await loop.ready;
});
after(() => loop.stop());
beforeEach(() => clearFaults(node.url));

const body = (extra = {}) => ({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('a node that answers with an error: its status and message reach the client', async () => {
  await fault(node.url, { kind: 'fail', status: 500, message: 'runner crashed', count: 1 });
  const r = await postJson(`${herd.url}/api/chat`, body({ stream: false }));
  assert.equal(r.status, 500);
  assert.deepEqual(r.body, { error: 'runner crashed' });
  assert.equal(r.headers.get('x-fleet-node'), 'flaky');
  const t = await eventually(lastTrace);
  assert.equal(t.status, 'failed');
  assert.match(t.error_message, /runner crashed|500/);
  await fault(node.url, { kind: 'fail', status: 500, message: 'runner crashed', count: 1 });
  const openai = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'x', maxRetries: 0 });
  await assert.rejects(openai.chat.completions.create(body()), (e) => e.status === 500 && e.error.message === 'runner crashed');
});

test('a node that drops the stream after some chunks: the client gets them, then an error line', async () => {
  await fault(node.url, { kind: 'drop', after: 5, count: 1 });
  const r = await curl(['-N', `${herd.url}/api/chat`, '-d', JSON.stringify(body())]);
  assert.equal(r.code, 0, 'herd ends its own stream properly');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.ok(lines.slice(0, 5).every((l) => l.done === false));
  assert.match(lines[5].error, /node flaky/);
  const t = await eventually(lastTrace);
  assert.equal(t.status, 'incomplete');
  // The ollama client turns that last line into an error.
  await fault(node.url, { kind: 'drop', after: 3, count: 1 });
  const ollama = new Ollama({ host: herd.url });
  await assert.rejects(async () => { for await (const _ of await ollama.chat(body({ stream: true }))); }, /node flaky/);
  // An OpenAI stream ends with an error event.
  await fault(node.url, { kind: 'drop', after: 3, count: 1 });
  const sse = await curl(['-N', `${herd.url}/v1/chat/completions`, '-d', JSON.stringify(body({ stream: true }))]);
  const events = sse.stdout.trim().split('\n\n').map((e) => e.replace(/^data: /, ''));
  assert.match(JSON.parse(events.at(-1)).error.message, /node flaky/);
  assert.ok(!events.includes('[DONE]'));
});

test('a node that never answers holds only the client that waits for it', async () => {
  await fault(node.url, { kind: 'stall', after: 0, count: 1 });
  const r = await curl(['-m', '0.5', `${herd.url}/api/chat`, '-d', JSON.stringify(body({ stream: false }))]);
  assert.equal(r.code, 28, 'the client gave up');
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.in_flight === 0);
  const t = await eventually(lastTrace);
  assert.equal(t.status, 'client_disconnected');
  // The slot is free again: the next request is served.
  const ok = await postJson(`${herd.url}/api/chat`, body({ stream: false }));
  assert.equal(ok.status, 200);
});

test('a node whose Ollama is gone: 502 in the API\'s shape, trace failed', async () => {
  const s = await startSim(['--name', 'doomed', '--model', 'phi4:latest=9', '--loaded', 'phi4:latest']);
  const { heartbeatFor, postHeartbeat } = await import('./lib/harness.mjs');
  await postHeartbeat(herd, await heartbeatFor({ name: 'doomed', url: s.url }));
  const beat = await heartbeatFor({ name: 'doomed', url: s.url });
  await s.stop();
  const o = await postJson(`${herd.url}/v1/completions`, { model: 'phi4', prompt: 'x' });
  assert.equal(o.status, 502);
  assert.equal(o.body.error.type, 'api_error');
  assert.match(o.body.error.message, /node doomed/);
  // The refused connection took doomed out of routing; its next heartbeat brings it back.
  await postHeartbeat(herd, beat);
  const r = await postJson(`${herd.url}/api/generate`, { model: 'phi4', prompt: 'x', stream: false });
  assert.equal(r.status, 502);
  assert.match(r.body.error, /node doomed/);
  const t = await eventually(lastTrace);
  assert.equal(t.status, 'failed');
  assert.equal(t.node_id, 'doomed');
  await postHeartbeat(herd, { node_id: 'doomed', draining: true });
});

test('a node that stops sending heartbeats is taken out of routing', async () => {
  const s = await startSim(['--name', 'quiet', '--model', 'mistral:latest=4.1', '--loaded', 'mistral:latest']);
  const h = await startHerd(['--heartbeat-timeout', '0.3', '--heartbeat-offline', '0.6', '--heartbeat-interval', '0.1', '--hold-timeout', '0.3']);
  const { heartbeatFor, postHeartbeat } = await import('./lib/harness.mjs');
  await postHeartbeat(h, await heartbeatFor({ name: 'quiet', url: s.url }));
  assert.equal((await postJson(`${h.url}/api/generate`, { model: 'mistral', prompt: 'x', stream: false })).status, 200);
  await eventually(async () => (await getJson(`${h.url}/fleet/status`)).body.nodes[0].status === 'degraded', { timeoutMs: 3000 });
  assert.equal((await postJson(`${h.url}/api/generate`, { model: 'mistral', prompt: 'x', stream: false })).status, 200, 'degraded is still routable');
  await eventually(async () => (await getJson(`${h.url}/fleet/status`)).body.nodes[0].status === 'offline', { timeoutMs: 3000 });
  const r = await postJson(`${h.url}/api/generate`, { model: 'mistral', prompt: 'x', stream: false });
  assert.equal(r.status, 503);
  assert.match(r.body.error, /quiet: offline/);
  await postHeartbeat(h, await heartbeatFor({ name: 'quiet', url: s.url }));
  assert.equal((await postJson(`${h.url}/api/generate`, { model: 'mistral', prompt: 'x', stream: false })).status, 200, 'back online');
});
