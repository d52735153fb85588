// herd in front of simulated nodes: where requests go, how queues bound them, what the traces
// record, and how streams, slow clients and leaving clients are handled.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, postJson, getJson, simState, simRequests, eventually, sleep } from './lib/harness.mjs';

const loops = [];
after(() => Promise.all(loops.map((l) => l.stop())));

async function fleet(simArgs, facts = {}, herdArgs = []) {
  const sims = [];
  for (const [name, args, opts] of simArgs) {
    const s = await startSim(['--name', name, ...args], opts);
    sims.push({ name, url: s.url, port: s.port, sim: s });
  }
  const herd = await startHerd(herdArgs);
  const loop = heartbeatLoop(herd, sims, facts);
  loops.push(loop);
  await loop.ready;
  return { herd, sims, loop };
}

const chat = (model, content = 'hello', extra = {}) => ({ model, messages: [{ role: 'user', content }], stream: false, ...extra });

test('a request goes to the node where its model is hot; the traces say why', async () => {
  const { herd, sims } = await fleet([
    ['cold', ['--model', 'qwen2.5:7b=4.7']],
    ['hot', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']],
  ]);
  for (let i = 0; i < 3; i++) {
    const r = await postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b'));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-fleet-node'), 'hot');
    assert.equal(r.body.done, true);
  }
  assert.equal((await simRequests(sims[0].url)).filter((q) => q.path === '/api/chat').length, 0);
  assert.equal((await simRequests(sims[1].url)).filter((q) => q.path === '/api/chat').length, 3);
  // The breakdown is what the scoring module computes for these heartbeats: loaded (50),
  // loaded so memory fits (20), idle queue (0, 0), a 4.7 GB model is small and the node has
  // 64 GB (8 of 15), no capacity block (0), 32768 context for a tiny prompt (15).
  const traces = (await getJson(`${herd.url}/dashboard/api/traces?limit=3`)).body;
  assert.equal(traces.length, 3);
  const SEVEN = ['thermal', 'memory_fit', 'queue_depth', 'wait_time', 'role_affinity', 'availability_trend', 'context_fit', 'total'];
  for (const t of traces) {
    const b = t.scores_breakdown;
    assert.deepEqual(Object.fromEntries(SEVEN.map((k) => [k, b[k]])), { thermal: 50, memory_fit: 20, queue_depth: 0, wait_time: 0, role_affinity: 8, availability_trend: 0, context_fit: 15, total: 93 });
    // Beside them, the prediction it was routed on: nothing ahead, no load, a short prefill.
    assert.equal(b.queue_s, 0);
    assert.equal(b.load_s, 0);
    assert.ok(b.prefill_s > 0 && b.decode_s > 0, JSON.stringify(b));
    assert.ok(Math.abs(b.predicted_ttft_s - b.prefill_s) < 1e-9);
    assert.ok(Math.abs(b.predicted_total_s - b.prefill_s - b.decode_s) < 1e-9);
    assert.equal(t.score, 93);
    assert.equal(t.status, 'completed');
    assert.equal(t.node_id, 'hot');
    assert.equal(t.original_format, 'ollama');
    assert.ok(t.prompt_tokens > 0 && t.completion_tokens > 0);
    assert.ok(t.latency_ms > 0 && t.time_to_first_token_ms > 0);
  }
  assert.equal(traces[0].score, Number((await postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b'))).headers.get('x-fleet-score')));
});

test('equal nodes share the work', async () => {
  const { herd } = await fleet([
    ['one', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']],
    ['two', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']],
  ]);
  const seen = { one: 0, two: 0 };
  for (let i = 0; i < 10; i++) {
    const r = await postJson(`${herd.url}/api/generate`, { model: 'qwen2.5:7b', prompt: 'x', stream: false });
    seen[r.headers.get('x-fleet-node')]++;
  }
  assert.ok(seen.one >= 3 && seen.two >= 3, JSON.stringify(seen));
});

test('the queue bound holds: N slots, N+k requests, k wait and then complete', async () => {
  const { herd, sims } = await fleet(
    [['solo', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--num-parallel', '2', '--tokens', '60-60'], { timeScale: '0.1' }]],
    { solo: { ollama: { num_parallel: 2 } } });
  const all = Promise.all([1, 2, 3, 4, 5].map((i) => postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b', `q${i}`))));
  const seen = await eventually(async () => {
    const q = (await getJson(`${herd.url}/fleet/queue`)).body;
    return q.in_flight === 2 && q.pending === 3 ? q : null;
  }, { timeoutMs: 5000, intervalMs: 10 });
  assert.equal(seen.queues['solo:qwen2.5:7b'].concurrency, 2);
  // The node never saw more than two at once.
  const st = await simState(sims[0].url);
  assert.ok(st.runners[0].in_flight <= 2);
  const results = await all;
  assert.ok(results.every((r) => r.status === 200 && r.body.done));
  const q = (await getJson(`${herd.url}/fleet/queue`)).body;
  assert.deepEqual([q.in_flight, q.pending, q.completed], [0, 0, 5]);
  // Waiting counts: the three that queued took longer than one request.
  const latencies = (await getJson(`${herd.url}/dashboard/api/traces?limit=5`)).body.map((t) => t.latency_ms).sort((a, b) => a - b);
  assert.ok(latencies[4] > latencies[0] * 1.5, JSON.stringify(latencies));
});

test('past FLEET_MAX_QUEUE waiting on a node, a request gets 503 at once', async () => {
  const { herd } = await fleet([['busy', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '400000-400000']]], {}, ['--max-queue', '1']);
  const ctrl = new AbortController();
  const running = [1, 2].map((i) => fetch(`${herd.url}/api/chat`, { method: 'POST', body: JSON.stringify({ ...chat('qwen2.5:7b', `r${i}`), stream: true }), signal: ctrl.signal }).catch(() => {}));
  await eventually(async () => {
    const q = (await getJson(`${herd.url}/fleet/queue`)).body;
    return q.in_flight === 1 && q.pending === 1;
  });
  const r = await postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b'));
  assert.equal(r.status, 503);
  assert.match(r.body.error, /too many requests waiting for qwen2\.5:7b on busy \(1\)/);
  const o = await postJson(`${herd.url}/v1/chat/completions`, chat('qwen2.5:7b'));
  assert.equal(o.status, 503);
  assert.equal(o.body.error.type, 'api_error');
  ctrl.abort();
  await Promise.all(running);
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.in_flight === 0);
});

test('streams arrive chunk by chunk, before the node has finished', async () => {
  const { herd, sims } = await fleet([['n', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '200-200'], { timeScale: '0.05' }]]);
  const res = await fetch(`${herd.url}/api/chat`, { method: 'POST', body: JSON.stringify({ ...chat('qwen2.5:7b'), stream: true }) });
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const reader = res.body.getReader();
  const first = await reader.read();
  const line = JSON.parse(Buffer.from(first.value).toString().split('\n')[0]);
  assert.equal(line.done, false);
  // The node is still generating when the client already has its first chunk.
  assert.equal((await simState(sims[0].url)).jobs, 1);
  let text = Buffer.from(first.value).toString();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 201);
  assert.equal(lines.at(-1).eval_count, 200);
});

test('a slow client pauses its node; memory stays bounded', async () => {
  const { herd, sims } = await fleet([['n', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '400000-400000', '--speed', '50']]]);
  const sock = net.connect({ port: herd.port, host: '127.0.0.1' });
  await new Promise((r) => sock.on('connect', r));
  sock.pause();
  const body = JSON.stringify({ ...chat('qwen2.5:7b'), stream: true });
  sock.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  // herd stops reading from the node, so the node's own output fills and it pauses too.
  await eventually(async () => (await simState(sims[0].url)).paused === 1, { timeoutMs: 20000 });
  const rssKb = Number(readFileSync(`/proc/${herd.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
  assert.ok(rssKb < 150 * 1024, `herd RSS ${rssKb} kB while a 50 MB reply waits`);
  let tail = '';
  let received = 0;
  sock.on('data', (d) => { received += d.length; tail = (tail + d.toString()).slice(-300); });
  sock.resume();
  await eventually(() => /"done":true/.test(tail), { timeoutMs: 60000 });
  assert.ok(received > 400000 * 50);
  sock.destroy();
  const t = (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];
  assert.equal(t.status, 'completed');
  assert.equal(t.completion_tokens, 400000);
});

test('a client that leaves cancels its node\'s work and frees its slot', async () => {
  const { herd, sims } = await fleet([['n', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '400000-400000']]]);
  const sock = net.connect({ port: herd.port, host: '127.0.0.1' });
  await new Promise((r) => sock.on('connect', r));
  const body = JSON.stringify({ ...chat('qwen2.5:7b'), stream: true });
  sock.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await new Promise((r) => sock.once('data', r));
  assert.equal((await getJson(`${herd.url}/fleet/queue`)).body.in_flight, 1);
  sock.destroy();
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.in_flight === 0);
  await eventually(async () => (await simState(sims[0].url)).jobs === 0);
  assert.equal((await simState(sims[0].url)).stats.cancelled, 1);
  const t = await eventually(async () => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0]);
  assert.equal(t.status, 'client_disconnected');
  assert.equal((await getJson(`${herd.url}/fleet/status`)).body.queues['n:qwen2.5:7b'].client_disconnected, 1);
});

test('a client waiting in the queue that leaves gives up its place', async () => {
  const { herd } = await fleet([['n', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '400000-400000']]]);
  const busy = net.connect({ port: herd.port, host: '127.0.0.1' });
  const body = JSON.stringify({ ...chat('qwen2.5:7b'), stream: true });
  busy.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await new Promise((r) => busy.once('data', r));
  const waiter = net.connect({ port: herd.port, host: '127.0.0.1' });
  waiter.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.pending === 1);
  waiter.destroy();
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.pending === 0);
  busy.destroy();
  await eventually(async () => (await getJson(`${herd.url}/fleet/queue`)).body.in_flight === 0);
});

test('the seed document\'s sqlite3 queries run verbatim on latency.db', async () => {
  const { herd } = await fleet([['studio', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']]]);
  for (let i = 0; i < 12; i++) await postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b', `q${i}`));
  await sleep(400); // batched writes land within 200 ms
  const db = join(herd.dataDir, 'latency.db');
  const q1 = spawnSync('sqlite3', [db, 'SELECT request_id, model, node_id, score, scores_breakdown FROM request_traces ORDER BY timestamp DESC LIMIT 1'], { encoding: 'utf8' });
  assert.equal(q1.status, 0, q1.stderr);
  const [id, model, node, score, breakdown] = q1.stdout.trim().split('|');
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.deepEqual([model, node], ['qwen2.5:7b', 'studio']);
  assert.equal(JSON.parse(breakdown).total, Number(score));
  const q2 = spawnSync('sqlite3', [db, "SELECT node_id, model, COUNT(*) as n, ROUND(AVG(latency_ms)/1000.0, 1) as avg_s, ROUND(AVG(COALESCE(completion_tokens,0) * 1000.0 / NULLIF(latency_ms,0)), 1) as tok_per_s FROM request_traces WHERE status='completed' GROUP BY node_id, model HAVING n > 10 ORDER BY tok_per_s DESC"], { encoding: 'utf8' });
  assert.equal(q2.status, 0, q2.stderr);
  const row = q2.stdout.trim().split('|');
  assert.deepEqual(row.slice(0, 3), ['studio', 'qwen2.5:7b', '12']);
  assert.ok(Number(row[4]) > 0);
  const wal = spawnSync('sqlite3', [db, 'PRAGMA journal_mode'], { encoding: 'utf8' });
  assert.equal(wal.stdout.trim(), 'wal');
  const obs = spawnSync('sqlite3', [db, 'SELECT COUNT(*) FROM latency_observations'], { encoding: 'utf8' });
  assert.equal(obs.stdout.trim(), '12');
});

test('herd logs each request with its id, node and model', async () => {
  const { herd } = await fleet([['n', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']]]);
  const r = await postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b'));
  const id = r.headers.get('x-fleet-request-id');
  await sleep(100);
  const lines = readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const mine = lines.find((l) => l.msg.includes(id));
  assert.ok(mine, 'the request has a log line');
  assert.match(mine.msg, /model=qwen2\.5:7b node=n status=completed/);
  assert.equal(mine.logger, 'herd');
});

test('FLEET_ROUTING_POLICY: round robin ignores where the model is hot, and sends past herd\'s slot queues', async () => {
  const { herd, sims } = await fleet([
    ['cold', ['--model', 'qwen2.5:7b=4.7']],
    ['hot', ['--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']],
  ], {}, ['--routing-policy', 'round_robin']);
  const nodes = [];
  for (let i = 0; i < 4; i++) {
    const r = await postJson(`${herd.url}/api/chat`, chat('qwen2.5:7b'));
    assert.equal(r.status, 200);
    nodes.push(r.headers.get('x-fleet-node'));
  }
  assert.deepEqual(nodes.sort(), ['cold', 'cold', 'hot', 'hot']);
  assert.equal((await simRequests(sims[0].url)).filter((q) => q.path === '/api/chat').length, 2);
  // No queue in herd: with one slot per node, four requests at once are all in flight at the
  // nodes (Ollama queues them), none waits in herd.
  const slow = (await startSim(['--name', 'slow', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tokens', '200-200'], { timeScale: '0.01' }));
  const h2 = await startHerd(['--routing-policy', 'least_conn']);
  const l2 = heartbeatLoop(h2, [{ name: 'slow', url: slow.url }]);
  loops.push(l2);
  await l2.ready;
  const running = Array.from({ length: 4 }, () => postJson(`${h2.url}/api/chat`, chat('qwen2.5:7b')));
  await eventually(async () => (await simState(slow.url)).stats.requests >= 4, { timeoutMs: 5000 });
  const q = (await getJson(`${h2.url}/fleet/queue`)).body.queues['slow:qwen2.5:7b'];
  assert.equal(q.pending, 0);
  assert.equal(q.in_flight, 4);
  for (const r of await Promise.all(running)) assert.equal(r.status, 200);
});
