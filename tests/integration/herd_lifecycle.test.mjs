// The zombie reaper and graceful shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatFor, postHeartbeat, postJson, getJson, curl, fault, simState, eventually } from './lib/harness.mjs';

async function one(simArgs, herdArgs, simOpts) {
  const s = await startSim(['--name', 'n', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', ...simArgs], simOpts);
  const node = { name: 'n', url: s.url };
  const herd = await startHerd(herdArgs);
  await postHeartbeat(herd, await heartbeatFor(node));
  return { herd, node };
}
const body = (extra = {}) => ({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], ...extra });
const lastTrace = async (herd) => (await getJson(`${herd.url}/dashboard/api/traces?limit=1`)).body[0];

test('a node that stops answering is reaped: the client is told, the slot freed', async () => {
  const { herd, node } = await one([], ['--stale-timeout', '1']);
  await fault(node.url, { kind: 'stall', after: 0, count: 1 });
  const t0 = Date.now();
  const r = await postJson(`${herd.url}/api/chat`, body({ stream: false }));
  assert.equal(r.status, 504);
  assert.match(r.body.error, /node n sent nothing for \d+ s; the request was cancelled/);
  assert.ok(Date.now() - t0 < 5000);
  assert.equal((await getJson(`${herd.url}/fleet/queue`)).body.in_flight, 0);
  const t = await eventually(() => lastTrace(herd));
  assert.equal(t.status, 'failed');
  assert.match(t.error_message, /sent nothing/);
  // The node was told too: its stalled request is gone.
  await eventually(async () => (await simState(node.url)).jobs === 0);
  // Mid-stream: the chunks already sent, then an error line.
  await fault(node.url, { kind: 'stall', after: 3, count: 1 });
  const s = await curl(['-N', `${herd.url}/api/chat`, '-d', JSON.stringify(body())]);
  const lines = s.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.match(lines[3].error, /sent nothing/);
  assert.equal((await eventually(() => lastTrace(herd))).status, 'failed');
});

test('a slow stream that keeps producing is never reaped', async () => {
  // About 20 tokens a second for 3 s, against a 1 s stale timeout.
  const { herd } = await one(['--bandwidth-gbps', '134', '--tokens', '60-60'], ['--stale-timeout', '1'], { timeScale: '1' });
  const t0 = Date.now();
  const r = await curl(['-N', `${herd.url}/api/chat`, '-d', JSON.stringify(body())]);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(Date.now() - t0 > 2000, 'the stream lasted longer than the stale timeout');
  assert.equal(lines.at(-1).done, true);
  assert.equal(lines.at(-1).eval_count, 60);
  assert.equal((await lastTrace(herd)).status, 'completed');
});

test('SIGTERM: newcomers get 503, streams in flight finish, traces are written, exit 0', async () => {
  const { herd } = await one(['--bandwidth-gbps', '134', '--tokens', '30-30', '--num-parallel', '2'], ['--drain-timeout', '20'], { timeScale: '1' });
  const streams = [1, 2].map((i) => curl(['-N', `${herd.url}/api/chat`, '-d', JSON.stringify(body({ messages: [{ role: 'user', content: `s${i}` }] }))]));
  // One stream runs, the other waits for the node's single slot: both must finish.
  await eventually(async () => {
    const q = (await getJson(`${herd.url}/fleet/queue`)).body;
    return q.in_flight === 1 && q.pending === 1;
  });
  herd.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  const late = await postJson(`${herd.url}/api/chat`, body({ stream: false }));
  assert.equal(late.status, 503);
  assert.match(late.body.error, /shutting down/);
  const root = await curl([`${herd.url}/`]);
  assert.equal(root.stdout, 'Ollama is running');
  const done = await Promise.all(streams);
  for (const d of done) {
    const lines = d.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).done, true, `no stream lost: ${d.stderr} herd exit ${herd.proc.exitCode} ${herd.proc.signalCode} ${herd.proc.stderrText.slice(-1500)}`);
    assert.equal(lines.at(-1).eval_count, 30);
  }
  const code = await new Promise((r) => (herd.proc.exitCode !== null ? r(herd.proc.exitCode) : herd.proc.on('exit', r)));
  assert.equal(code, 0);
  const q = spawnSync('sqlite3', [join(herd.dataDir, 'latency.db'), "SELECT status, COUNT(*) FROM request_traces GROUP BY status"], { encoding: 'utf8' });
  assert.equal(q.stdout.trim(), 'completed|2');
});
