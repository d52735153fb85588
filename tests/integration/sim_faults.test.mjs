// Every injected fault of herd-sim, set at start and at run time, seen by real clients.
import { test, before, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startSim, postJson, curl, fault, clearFaults, simState, eventually, sleep } from './lib/harness.mjs';

let sim;
let long; // a fast machine whose replies are 400,000 tokens: far more than socket buffers hold
let ollama;
let openai;
const chat = (extra = {}) => ({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], ...extra });

before(async () => {
  sim = await startSim(['--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:1b=1.3', '--loaded', 'qwen2.5:7b', '--loaded', 'llama3.2:1b', '--tokens', '24-24']);
  ollama = new Ollama({ host: sim.url });
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
  long = await startSim(['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--speed', '50', '--tokens', '400000-400000', '--keep-alive', '-1']);
});
beforeEach(() => clearFaults(sim.url));

test('fail: an error status before anything, in each API shape, for count requests', async () => {
  await fault(sim.url, { kind: 'fail', status: 500, message: 'runner crashed', count: 2 });
  await assert.rejects(ollama.chat(chat()), (e) => e.status_code === 500 && e.error === 'runner crashed');
  await assert.rejects(openai.chat.completions.create(chat()), (e) => e instanceof OpenAI.InternalServerError && e.error.type === 'api_error' && e.error.message === 'runner crashed');
  const ok = await ollama.chat(chat());
  assert.equal(ok.done, true, 'the fault was used up after 2 requests');
});

test('fail only for one model', async () => {
  await fault(sim.url, { kind: 'fail', status: 502, message: 'bad gateway', model: 'llama3.2:1b' });
  assert.equal((await ollama.chat(chat())).done, true);
  await assert.rejects(ollama.chat(chat({ model: 'llama3.2:1b' })), (e) => e.status_code === 502);
});

test('queue_full: Ollama\'s 503 text', async () => {
  await fault(sim.url, { kind: 'queue_full', count: 1 });
  const r = await postJson(`${sim.url}/api/chat`, chat());
  assert.equal(r.status, 503);
  assert.deepEqual(r.body, { error: 'server busy, please try again.  maximum pending requests exceeded' });
});

test('drop before the first byte: the client sees the connection close', async () => {
  await fault(sim.url, { kind: 'drop', after: 0, count: 1 });
  const r = await curl([`${sim.url}/api/chat`, '-d', JSON.stringify(chat())]);
  assert.equal(r.code, 52, `curl: empty reply (${r.stderr})`);
  assert.equal((await ollama.chat(chat())).done, true, 'next request is fine');
});

test('drop after N chunks: the stream is cut, the client notices', async () => {
  await fault(sim.url, { kind: 'drop', after: 3, count: 1 });
  const r = await curl(['-N', `${sim.url}/api/chat`, '-d', JSON.stringify(chat())]);
  assert.notEqual(r.code, 0, 'curl reports the cut (chunked body not terminated)');
  assert.equal(r.stdout.trim().split('\n').length, 3);
  await fault(sim.url, { kind: 'drop', after: 2, count: 1 });
  await assert.rejects(async () => { for await (const _ of await ollama.chat(chat({ stream: true }))); });
  await eventually(async () => (await simState(sim.url)).jobs === 0);
});

test('stall after N chunks: the stream stops, the slot is freed when the client leaves', async () => {
  await fault(sim.url, { kind: 'stall', after: 2, count: 1 });
  const ctrl = new AbortController();
  const res = await fetch(`${sim.url}/api/chat`, { method: 'POST', body: JSON.stringify(chat()), signal: ctrl.signal });
  const reader = res.body.getReader();
  let got = '';
  const deadline = Date.now() + 300;
  while (Date.now() < deadline) {
    const part = await Promise.race([reader.read(), sleep(50).then(() => null)]);
    if (part && !part.done) got += Buffer.from(part.value).toString();
    if (part?.done) break;
  }
  assert.equal(got.trim().split('\n').length, 2, 'two lines, then nothing');
  const during = await simState(sim.url);
  assert.equal(during.jobs, 1);
  assert.equal(during.runners.find((r) => r.model === 'qwen2.5:7b').in_flight, 1);
  ctrl.abort();
  await eventually(async () => (await simState(sim.url)).jobs === 0);
  const after = await simState(sim.url);
  assert.equal(after.runners.find((r) => r.model === 'qwen2.5:7b').in_flight, 0);
});

test('stall before the first byte: a node that never answers', async () => {
  await fault(sim.url, { kind: 'stall', after: 0, count: 1 });
  const r = await curl(['-m', '0.5', `${sim.url}/api/chat`, '-d', JSON.stringify(chat())]);
  assert.equal(r.code, 28, 'curl timed out');
  assert.equal(r.stdout, '');
});

test('slow: every delay of the node stretches', async () => {
  // Different prompts of the same length, so the prefix cache treats both alike.
  const ask = (content) => chat({ messages: [{ role: 'user', content }], options: { num_predict: 20, seed: 1 } });
  const base = await ollama.chat(ask('alpha beta gamma'));
  await fault(sim.url, { kind: 'slow', factor: 8 });
  const slow = await ollama.chat(ask('delta epsil omega'));
  assert.equal(slow.message.content, base.message.content);
  assert.equal(slow.prompt_eval_count, base.prompt_eval_count);
  // Durations are model time, so the ratio holds whatever the machine's load.
  const ratio = (a, b) => a / b;
  assert.ok(Math.abs(ratio(slow.eval_duration, base.eval_duration) - 8) < 0.5, `${slow.eval_duration} vs ${base.eval_duration}`);
  // Prompt time also depends on what the slot had cached, so only its order is checked.
  assert.ok(ratio(slow.prompt_eval_duration, base.prompt_eval_duration) > 4, `${slow.prompt_eval_duration} vs ${base.prompt_eval_duration}`);
  const st = await simState(sim.url);
  assert.equal(st.faults[0].kind, 'slow');
});

test('faults can be listed and cleared; bad fault requests are refused', async () => {
  await fault(sim.url, { kind: 'fail', status: 500 });
  const list = await (await fetch(`${sim.url}/_sim/fault`)).json();
  assert.equal(list.faults.length, 1);
  await clearFaults(sim.url);
  assert.equal((await ollama.chat(chat())).done, true);
  for (const bad of [{ kind: 'explode' }, { kind: 'fail', status: 200 }, { kind: 'slow', factor: 0 }]) {
    const r = await postJson(`${sim.url}/_sim/fault`, bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
});

test('faults given at start with --fault', async () => {
  const s = await startSim(['--model', 'qwen2.5:7b=4.7', '--fault', 'fail:503@qwen2.5:7b', '--fault', 'slow:2']);
  const r = await postJson(`${s.url}/api/chat`, chat());
  assert.equal(r.status, 503);
  const st = await simState(s.url);
  assert.deepEqual(st.faults.map((f) => f.kind).sort(), ['fail', 'slow']);
  await s.stop();
  const bad = await startSim(['--fault', 'melt']).catch((e) => e);
  assert.match(String(bad), /unknown fault 'melt'/);
});

test('a client that disconnects mid-stream frees its slot', async () => {
  const sock = net.connect(long.port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  const body = JSON.stringify(chat());
  sock.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await new Promise((r) => sock.once('data', r));
  assert.equal((await simState(long.url)).jobs, 1);
  sock.destroy();
  await eventually(async () => (await simState(long.url)).jobs === 0);
  const st = await simState(long.url);
  assert.equal(st.stats.cancelled, 1);
  assert.equal(st.runners[0].in_flight, 0);
});

test('a client that stops reading pauses generation; reading again resumes it', async () => {
  const sock = net.connect({ port: long.port, host: '127.0.0.1' });
  await new Promise((r) => sock.on('connect', r));
  sock.pause(); // read nothing: the socket buffers fill, then the simulator's output queue
  const body = JSON.stringify(chat());
  sock.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await eventually(async () => (await simState(long.url)).paused === 1, { timeoutMs: 20000 });
  let received = 0;
  let tail = '';
  sock.on('data', (d) => { received += d.length; tail = (tail + d.toString()).slice(-400); });
  sock.resume();
  await eventually(() => /"done":true/.test(tail), { timeoutMs: 60000 });
  const st = await simState(long.url);
  assert.equal(st.paused, 0);
  assert.equal(st.jobs, 0);
  assert.ok(received > 400000 * 50, 'every chunk arrived');
  assert.match(tail, /"eval_count":400000/);
  sock.destroy();
});
