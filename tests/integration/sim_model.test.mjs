// herd-sim's performance model seen from outside: loads, reloads, eviction, slots, prefix
// cache, the pending queue, keep-alive. Durations are read from Ollama's metrics (model time),
// so the checks do not depend on how busy the test machine is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startSim, postJson, simState, eventually, sleep } from './lib/harness.mjs';

const S = 1e9; // nanoseconds per second
const msg = (content, extra = {}) => ({ messages: [{ role: 'user', content }], ...extra });

test('a cold model pays its load time once; a warm one does not', async () => {
  // 4 GB at 2 GB/s plus 0.5 s overhead: 2.5 s.
  const sim = await startSim(['--model', 'a:7b=4', '--disk-gbps', '2', '--load-overhead', '0.5'], { timeScale: '0.01' });
  const ollama = new Ollama({ host: sim.url });
  const cold = await ollama.chat({ model: 'a:7b', ...msg('one') });
  assert.ok(cold.load_duration >= 2.5 * S && cold.load_duration < 4 * S, `cold load ${cold.load_duration}`);
  const warm = await ollama.chat({ model: 'a:7b', ...msg('two') });
  assert.ok(warm.load_duration < 0.1 * S, `warm load ${warm.load_duration}`);
  assert.equal((await simState(sim.url)).stats.loads, 1);
});

test('a different num_ctx reloads the model; the same one does not', async () => {
  const sim = await startSim(['--model', 'a:7b=4', '--loaded', 'a:7b', '--memory-gb', '64']);
  const ollama = new Ollama({ host: sim.url });
  const before = (await ollama.ps()).models[0].context_length;
  assert.equal(before, 32768, "64 GB picks the 262144 tier, capped at the trained 32768");
  const same = await ollama.chat({ model: 'a:7b', ...msg('x', { options: { num_ctx: before } }) });
  assert.ok(same.load_duration < 0.1 * S);
  const reload = await ollama.chat({ model: 'a:7b', ...msg('x', { options: { num_ctx: 8192 } }) });
  assert.ok(reload.load_duration >= 2.5 * S, 'reload pays a full load');
  const ps = (await ollama.ps()).models;
  assert.equal(ps.length, 1);
  assert.equal(ps[0].context_length, 8192);
  const st = await simState(sim.url);
  assert.equal(st.stats.reloads, 1);
  // Without num_ctx the default applies again: another reload (the thrash a router must avoid).
  const back = await ollama.chat({ model: 'a:7b', ...msg('x') });
  assert.ok(back.load_duration >= 2.5 * S);
  assert.equal((await simState(sim.url)).stats.reloads, 2);
});

test('loading past max_loaded or memory evicts an idle model', async () => {
  const sim = await startSim(['--model', 'a:7b=4', '--model', 'b:7b=4', '--model', 'c:7b=4', '--model', 'big:70b=20',
    '--loaded', 'a:7b', '--loaded', 'b:7b', '--max-loaded', '2', '--memory-gb', '24', '--context-length', '2048']);
  const ollama = new Ollama({ host: sim.url });
  await ollama.chat({ model: 'c:7b', ...msg('x') });
  let loaded = (await ollama.ps()).models.map((m) => m.name).sort();
  assert.equal(loaded.length, 2);
  assert.ok(loaded.includes('c:7b'));
  await ollama.chat({ model: 'big:70b', ...msg('x') });
  loaded = (await ollama.ps()).models.map((m) => m.name);
  assert.deepEqual(loaded, ['big:70b'], 'memory: 20 GB + 4 GB weights and cache do not fit 24 GB');
  assert.ok((await simState(sim.url)).stats.evictions >= 2);
  const huge = await startSim(['--model', 'h:405b=240', '--memory-gb', '64']);
  const r = await postJson(`${huge.url}/api/generate`, { model: 'h:405b', prompt: 'x', stream: false });
  assert.equal(r.status, 500);
  assert.match(r.body.error, /model requires more system memory/);
});

test('requests beyond the parallel slots wait for one', async () => {
  const sim = await startSim(['--model', 'a:7b=4', '--loaded', 'a:7b', '--num-parallel', '1', '--tokens', '40-40'], { timeScale: '0.01' });
  const ollama = new Ollama({ host: sim.url });
  const [one, two] = await Promise.all([
    ollama.chat({ model: 'a:7b', ...msg('first') }),
    ollama.chat({ model: 'a:7b', ...msg('second one') }),
  ]);
  // Slot waiting counts in total_duration but not in load_duration, as in Ollama.
  const [early, late] = one.total_duration < two.total_duration ? [one, two] : [two, one];
  assert.ok(late.total_duration > early.eval_duration + late.eval_duration * 0.9, `${late.total_duration} vs ${early.eval_duration}`);
  assert.ok(late.load_duration < 0.1 * S);
});

test('parallel slots share the speed of the machine', async () => {
  const sim = await startSim(['--model', 'a:7b=4', '--loaded', 'a:7b', '--num-parallel', '4', '--tokens', '60-60', '--parallel-efficiency', '0.5'], { timeScale: '0.02' });
  const ollama = new Ollama({ host: sim.url });
  const alone = await ollama.chat({ model: 'a:7b', ...msg('solo') });
  const four = await Promise.all([1, 2, 3, 4].map((i) => ollama.chat({ model: 'a:7b', ...msg(`together ${i}`) })));
  const slowest = Math.max(...four.map((r) => r.eval_duration));
  // Four streams at once each run at (1 + 0.5 * 3) / 4 = 0.625 of one stream's speed.
  assert.ok(slowest > alone.eval_duration * 1.3, `${slowest} vs ${alone.eval_duration}`);
});

test('a prompt that extends what the slot saw pays only for the new part', async () => {
  const sim = await startSim(['--model', 'a:7b=4', '--loaded', 'a:7b']);
  const ollama = new Ollama({ host: sim.url });
  const history = [{ role: 'system', content: 'You are terse. '.repeat(200) }, { role: 'user', content: 'first question' }];
  const t1 = await ollama.chat({ model: 'a:7b', messages: history });
  const t2 = await ollama.chat({ model: 'a:7b', messages: [...history, t1.message, { role: 'user', content: 'and then?' }] });
  assert.ok(t2.prompt_eval_count > t1.prompt_eval_count);
  assert.ok(t2.prompt_eval_duration < t1.prompt_eval_duration / 10, `${t2.prompt_eval_duration} vs ${t1.prompt_eval_duration}`);
  const other = await ollama.chat({ model: 'a:7b', messages: [{ role: 'system', content: 'Different. '.repeat(200) }, { role: 'user', content: 'x' }] });
  assert.ok(other.prompt_eval_duration > t2.prompt_eval_duration * 5);
});

test('the pending queue for loads is bounded: 503 beyond it', async () => {
  // One load at a time: while a:7b loads, b:7b waits in the queue (size 1); c and d are refused.
  const sim = await startSim(['--model', 'a:7b=20', '--model', 'b:7b=20', '--model', 'c:7b=20', '--model', 'd:7b=20',
    '--memory-gb', '100', '--max-queue', '1', '--disk-gbps', '0.5', '--context-length', '2048'], { timeScale: '0.01' });
  const fire = (m) => postJson(`${sim.url}/api/generate`, { model: m, prompt: 'x', stream: false });
  const a = fire('a:7b');
  await eventually(async () => (await simState(sim.url)).runners.length === 1);
  const b = fire('b:7b');
  await eventually(async () => (await simState(sim.url)).pending === 1);
  const [c, d] = await Promise.all([fire('c:7b'), fire('d:7b')]);
  assert.deepEqual([c.status, d.status], [503, 503]);
  assert.deepEqual(c.body, { error: 'server busy, please try again.  maximum pending requests exceeded' });
  assert.deepEqual([(await a).status, (await b).status], [200, 200]);
  assert.equal((await simState(sim.url)).stats.rejected, 2);
});

test('keep_alive: a model unloads when idle for that long; -1 keeps it', async () => {
  const sim = await startSim(['--model', 'a:7b=4', '--model', 'b:7b=4'], { timeScale: '0.01' });
  const ollama = new Ollama({ host: sim.url });
  await ollama.generate({ model: 'a:7b', prompt: 'x', keep_alive: '2s' });
  await ollama.generate({ model: 'b:7b', prompt: 'x', keep_alive: -1 });
  const ps = await ollama.ps();
  const b = ps.models.find((m) => m.name === 'b:7b');
  assert.ok(Date.parse(b.expires_at) > Date.now() + 100 * 365 * 86400e3, 'forever is centuries away');
  await eventually(async () => !(await ollama.ps()).models.some((m) => m.name === 'a:7b'), { timeoutMs: 3000 });
  await sleep(50);
  assert.ok((await ollama.ps()).models.some((m) => m.name === 'b:7b'));
});

test('a fleet profile starts several machines in one process', async () => {
  const profile = {
    defaults: { num_parallel: 2 },
    nodes: [
      { name: 'studio', memory_gb: 192, bandwidth_gbps: 800, models: [{ name: 'llama3.3:70b', size_gb: 42, loaded: true }] },
      { name: 'laptop', memory_gb: 16, bandwidth_gbps: 100, models: ['qwen2.5:7b=4.7'], ollama_version: '0.11.0' },
    ],
  };
  const sim = await startSim([], { profile });
  assert.deepEqual(sim.nodes.map((n) => n.name), ['studio', 'laptop']);
  const studio = new Ollama({ host: sim.nodes[0].url });
  const laptop = new Ollama({ host: sim.nodes[1].url });
  assert.deepEqual((await studio.ps()).models.map((m) => m.name), ['llama3.3:70b']);
  assert.deepEqual((await laptop.list()).models.map((m) => m.name), ['qwen2.5:7b']);
  assert.equal((await laptop.version()).version, '0.11.0');
  const st = await simState(sim.nodes[0].url);
  assert.equal(st.node, 'studio');
  assert.equal(st.runners[0].parallel, 2);
  const bad = await startSim([], { profile: { nodes: [{ name: 'x', memory_gb: 'lots' }] } }).catch((e) => e);
  assert.match(String(bad), /node x: memory_gb must be a number/);
});
