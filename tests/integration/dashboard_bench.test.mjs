// Benchmarks from the dashboard's API: a run sends real requests through herd, its figures
// match the traces those requests left, and it can be watched, cancelled and listed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, eventually, simRequests } from './lib/harness.mjs';

let herd;
let a;
let b;
let loop;
after(() => loop?.stop());

const api = (p) => `${herd.url}/dashboard/api/benchmarks${p}`;
const tracesOf = async (runId) => (await getJson(`${herd.url}/dashboard/api/traces?limit=10000`)).body
  .filter((t) => (t.tags || []).includes(`benchmark:${runId}`));

before(async () => {
  a = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:3b=2.0', '--model', 'nomic-embed-text:latest=0.3',
    '--loaded', 'qwen2.5:7b', '--loaded', 'llama3.2:3b', '--loaded', 'nomic-embed-text:latest', '--num-parallel', '2'], { timeScale: '0.01' });
  b = await startSim(['--name', 'b', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--num-parallel', '2'], { timeScale: '0.01' });
  herd = await startHerd();
  loop = heartbeatLoop(herd, [{ name: 'a', url: a.url }, { name: 'b', url: b.url }]);
  await loop.ready;
});

test('bad settings are refused with the reason', async () => {
  for (const [body, re] of [
    [{ duration: 1 }, /duration must be/],
    [{ duration: 'long' }, /duration must be/],
    [{ concurrency: 0 }, /concurrency must be/],
    [{ concurrency: 65 }, /concurrency must be/],
    [{ models: [] }, /models must be a list of 1 to 8/],
    [{ models: ['nope:1b'] }, /no node has the model 'nope:1b'/],
    [{ models: ['nomic-embed-text'] }, /'nomic-embed-text' is an embedding model; a benchmark sends chats/],
    [{ max_tokens: 0 }, /max_tokens must be/],
    [{ prompt: '' }, /prompt must be/],
  ]) {
    const r = await postJson(api('/start'), body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.error, re);
  }
  assert.equal((await postJson(api('/start'), '{"duration": ')).status, 400);
  assert.equal((await postJson(api('/cancel'), {})).status, 409);
  assert.equal((await getJson(api('/bench-none'))).status, 404);
  assert.equal((await getJson(api('/progress'))).body.running, false);
});

test('a run: progress while it runs, then figures that match its traces', async () => {
  // llama3.2:3b is only on node a, which fails it three times: those requests fail (no other
  // node to retry on), and the run must count them as the traces do.
  await postJson(`${a.url}/_sim/fault`, { kind: 'fail', status: 500, model: 'llama3.2:3b', count: 3 });
  const start = await postJson(api('/start'), { duration: 5, concurrency: 4, models: ['qwen2.5:7b', 'llama3.2:3b'], max_tokens: 24 });
  assert.equal(start.status, 202, JSON.stringify(start.body));
  const runId = start.body.run_id;
  assert.match(runId, /^bench-\d{8}-\d{6}-[0-9a-f]{6}$/);
  assert.equal((await postJson(api('/start'), {})).status, 409);
  const seen = await eventually(async () => {
    const p = (await getJson(api('/progress'))).body;
    return p.running && p.total_requests >= 4 ? p : false;
  }, { timeoutMs: 5000 });
  assert.equal(seen.run_id, runId);
  assert.ok(seen.progress > 0 && seen.progress <= 1);
  assert.ok(seen.in_flight <= 4);
  assert.equal((await getJson(api(''))).body.running, true);

  await eventually(async () => !(await getJson(api('/progress'))).body.running, { timeoutMs: 10000 });
  const run = (await getJson(api(`/${runId}`))).body;
  assert.equal(run.status, 'completed');
  assert.ok(run.duration_s > 4.9 && run.duration_s < 7, `duration ${run.duration_s}`);
  assert.deepEqual(run.config.models, ['qwen2.5:7b', 'llama3.2:3b']);
  assert.equal(run.config.concurrency, 4);

  // Every request the run counted left a trace, and the requests under way at the end were
  // allowed to finish: the run's count is the traces' count.
  const traces = await tracesOf(runId);
  const counted = traces.filter((t) => t.status === 'completed' || t.status === 'failed');
  assert.ok(counted.length >= 8, `only ${counted.length} requests`);
  assert.equal(run.total_requests, counted.length);
  assert.equal(run.total_failures, counted.filter((t) => t.status === 'failed').length);
  assert.equal(run.total_failures, 3);
  assert.equal(Object.fromEntries(run.per_model_results.map((m) => [m.model, m.failures]))['llama3.2:3b'], 3);
  assert.equal(run.total_completion_tokens, counted.reduce((s, t) => s + (t.completion_tokens || 0), 0));
  assert.equal(run.total_prompt_tokens, counted.reduce((s, t) => s + (t.prompt_tokens || 0), 0));
  assert.ok(traces.every((t) => t.tags.includes('herd-benchmark')));
  assert.ok(Math.abs(run.requests_per_sec - (counted.length - run.total_failures) / run.duration_s) < 1e-6);
  assert.ok(run.latency_p50_ms <= run.latency_p95_ms && run.latency_p95_ms <= run.latency_p99_ms);
  assert.ok(run.ttft_p50_ms > 0 && run.ttft_p50_ms <= run.latency_p50_ms * 1.5);
  // The client's view of latency is the trace's plus the loopback: never shorter.
  const fastest = Math.min(...counted.map((t) => t.latency_ms));
  assert.ok(run.latency_p50_ms >= fastest * 0.99);

  const perModel = Object.fromEntries(run.per_model_results.map((m) => [m.model, m]));
  for (const m of ['qwen2.5:7b', 'llama3.2:3b']) assert.equal(perModel[m].requests, counted.filter((t) => t.model === m).length, m);
  const perNode = Object.fromEntries(run.per_node_results.map((n) => [n.node_id, n]));
  for (const n of ['a', 'b']) assert.equal(perNode[n]?.requests ?? 0, counted.filter((t) => t.node_id === n).length, n);
  assert.ok(Math.abs(run.per_node_results.reduce((s, n) => s + n.share, 0) - 1) < 1e-9);
  // Both nodes served qwen2.5:7b, and the run saw them busy.
  assert.ok(perNode.a.requests > 0 && perNode.b.requests > 0);
  assert.ok(run.peak_utilization.a.peak_in_flight >= 1);
  assert.equal(run.fleet_snapshot.length, 2);
  // The sims saw the requests herd sent (each remembers its last 64), with the run's settings.
  const sent = [...await simRequests(a.url), ...await simRequests(b.url)].filter((q) => q.path === '/api/chat');
  assert.ok(sent.length >= Math.min(counted.length, 64));
  assert.ok(sent.every((q) => q.body.options?.num_predict === 24));

  // The Apps tab shows the benchmark's traffic under its tag.
  const tags = (await getJson(`${herd.url}/dashboard/api/tags`)).body.tags;
  assert.equal(tags.find((t) => t.tag === `benchmark:${runId}`).requests, traces.length);
});

test('cancel: the run stops at once and keeps what it measured', async () => {
  const start = await postJson(api(''), { duration: 600, concurrency: 2 }); // POST /benchmarks starts too
  assert.equal(start.status, 202);
  const runId = start.body.run_id;
  // Without models, the loaded chat models are used (not the embedding model).
  assert.deepEqual(start.body.config.models.sort(), ['llama3.2:3b', 'qwen2.5:7b']);
  await eventually(async () => (await getJson(api('/progress'))).body.total_requests >= 2, { timeoutMs: 5000 });
  const t0 = Date.now();
  const c = await postJson(api('/cancel'), {});
  assert.equal(c.status, 200);
  assert.equal(c.body.status, 'cancelled');
  assert.ok(Date.now() - t0 < 1000);
  const run = (await getJson(api(`/${runId}`))).body;
  assert.equal(run.status, 'cancelled');
  assert.ok(run.duration_s < 60);
  assert.ok(run.total_requests >= 2);
  assert.equal((await getJson(api('/progress'))).body.last_run_id, runId);

  const list = (await getJson(api(''))).body;
  assert.equal(list.running, false);
  assert.equal(list.runs[0].run_id, runId);
  assert.equal(list.runs[0].status, 'cancelled');
  assert.equal(list.runs[1].status, 'completed');
  assert.ok(list.runs.every((r) => typeof r.requests_per_sec === 'number'));
});
