#!/usr/bin/env node
// Soak: concurrent clients through herd while simulated nodes are killed (SIGKILL) and
// restarted on the same port. Prints what happened to every request, and checks in
// latency.db (with the sqlite3 program) that each request has exactly one final trace row.
// Bounded in time and requests; loopback only. Figures, never assertions on time.
//
//   node bench/soak.mjs [--seconds 120] [--clients 16] [--nodes 3] [--kill-every 4]
//                       [--max-requests 20000]
//   node bench/soak.mjs --smoke          (15 s, for CI)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, stopAll, sleep } from '../tests/integration/lib/programs.mjs';

function options(argv) {
  const o = { seconds: 120, clients: 16, nodes: 3, killEvery: 4, maxRequests: 20000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => Number(argv[++i]);
    if (a === '--smoke') Object.assign(o, { seconds: 15, clients: 8, killEvery: 3 });
    else if (a === '--seconds') o.seconds = next();
    else if (a === '--clients') o.clients = next();
    else if (a === '--nodes') o.nodes = next();
    else if (a === '--kill-every') o.killEvery = next();
    else if (a === '--max-requests') o.maxRequests = next();
    else {
      console.error(`unknown option ${a}\nusage: node bench/soak.mjs [--smoke] [--seconds N] [--clients N] [--nodes N] [--kill-every S] [--max-requests N]`);
      process.exit(2);
    }
  }
  return o;
}

const opt = options(process.argv.slice(2));
const MODEL = 'qwen2.5:7b';
// Replies of 20-60 tokens at a time scale of 0.02: a stream lasts tens of milliseconds, so
// kills land before, during and after first chunks.
const simArgs = (name) => ['--name', name, '--model', `${MODEL}=4.7`, '--loaded', MODEL, '--num-parallel', '4',
  '--tokens', '20-60', '--memory-gb', '64'];

const nodes = [];
for (let i = 0; i < opt.nodes; i++) {
  const name = `n${i + 1}`;
  const s = await startSim(simArgs(name), { timeScale: '0.02' });
  nodes.push({ name, url: s.url, port: s.port, sim: s, up: true });
}
const herd = await startHerd(['--heartbeat-timeout', '1', '--heartbeat-offline', '2', '--heartbeat-interval', '0.25',
  '--hold-timeout', '10', '--max-retries', '2', '--stale-timeout', '10', '--console-log-level', 'error']);
const beats = heartbeatLoop(herd, nodes, {}, 250);
await beats.ready;

// What the clients saw, by request id.
const seen = new Map();
const tally = { sent: 0, completed: 0, retried: 0, failedBeforeStart: 0, failedMidStream: 0, noId: 0, kills: 0, restarts: 0 };

const bodies = [
  ['/api/chat', (i) => ({ model: MODEL, messages: [{ role: 'user', content: `hello ${i}` }], stream: true })],
  ['/api/generate', (i) => ({ model: MODEL, prompt: `count ${i}`, stream: false })],
  ['/v1/chat/completions', (i) => ({ model: MODEL, messages: [{ role: 'user', content: `hi ${i}` }], stream: true })],
];

// A finished stream ends with done:true (NDJSON) or [DONE] (SSE); a broken one with an error.
// A reply cut short may not even parse: that is a failure mid-stream too.
function outcome(path, status, text) {
  if (status !== 200) return 'failedBeforeStart';
  try {
    if (path === '/api/generate') return JSON.parse(text).done === true ? 'completed' : 'failedMidStream';
    if (path === '/api/chat') {
      const lines = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
      return lines.at(-1)?.done === true && !lines.some((l) => l.error) ? 'completed' : 'failedMidStream';
    }
    return /data: \[DONE\]/.test(text) && !/"error"/.test(text) ? 'completed' : 'failedMidStream';
  } catch {
    return 'failedMidStream';
  }
}

const deadline = Date.now() + opt.seconds * 1000;
async function client(k) {
  for (let i = 0; Date.now() < deadline && tally.sent < opt.maxRequests; i++) {
    const [path, body] = bodies[(k + i) % bodies.length];
    tally.sent++;
    let status = 0;
    let text = '';
    let id = null;
    let retries = 0;
    try {
      const res = await fetch(`${herd.url}${path}`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(i)),
        signal: AbortSignal.timeout(30000),
      });
      status = res.status;
      id = res.headers.get('x-fleet-request-id');
      retries = Number(res.headers.get('x-fleet-retries') || 0);
      text = await res.text();
    } catch {
      status = -1; // the connection to herd broke
    }
    const how = status === -1 ? 'failedMidStream' : outcome(path, status, text);
    tally[how]++;
    if (how === 'completed' && retries > 0) tally.retried++;
    if (id) seen.set(id, how);
    else tally.noId++;
  }
}

// Kills a random live node now and then, and brings it back on its port a little later.
async function chaos() {
  while (Date.now() < deadline - 1000) {
    await sleep(opt.killEvery * 1000);
    const live = nodes.filter((n) => n.up);
    if (live.length < 2 || Date.now() >= deadline - 1000) continue;
    const n = live[Math.floor(Math.random() * live.length)];
    n.sim.proc.expectFailure = true;
    n.sim.proc.kill('SIGKILL');
    n.up = false;
    tally.kills++;
    setTimeout(async () => {
      n.sim = await startSim([...simArgs(n.name), '--port', String(n.port)], { timeScale: '0.02' });
      n.up = true;
      tally.restarts++;
    }, 1500);
  }
}

const t0 = Date.now();
await Promise.all([chaos(), ...Array.from({ length: opt.clients }, (_, k) => client(k))]);
const elapsed = (Date.now() - t0) / 1000;
await sleep(2500); // restarts finish; herd flushes its traces every 200 ms
await beats.stop();
const herdExit = await herd.stop();

// Every request the clients saw: exactly one final row (completed, failed, incomplete,
// client_disconnected), any number of retried rows.
const db = join(herd.dataDir, 'latency.db');
const q = spawnSync('sqlite3', ['-json', db,
  "SELECT request_id, SUM(status != 'retried') AS finals, SUM(status = 'retried') AS retried, MAX(CASE WHEN status != 'retried' THEN status END) AS final FROM request_traces GROUP BY request_id"],
{ encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
if (q.status !== 0) {
  console.error(`sqlite3 failed: ${q.stderr}`);
  process.exit(1);
}
const rows = new Map(JSON.parse(q.stdout || '[]').map((r) => [r.request_id, r]));
let missing = 0;
let notOne = 0;
let mismatched = 0;
// What the client saw and the final status herd recorded must agree.
const expected = { completed: ['completed'], failedBeforeStart: ['failed'], failedMidStream: ['incomplete', 'failed'] };
for (const [id, how] of seen) {
  const r = rows.get(id);
  if (!r) missing++;
  else if (r.finals !== 1) notOne++;
  else if (!expected[how].includes(r.final)) mismatched++;
}
const orphanRows = [...rows.keys()].filter((id) => !seen.has(id)).length;
const retriedRows = [...rows.values()].reduce((n, r) => n + r.retried, 0);

const pct = (n) => `${((100 * n) / Math.max(1, tally.sent)).toFixed(2)}%`;
console.log(`soak: ${opt.nodes} nodes, ${opt.clients} clients, ${elapsed.toFixed(1)} s, a node killed every ${opt.killEvery} s (${tally.kills} kills, ${tally.restarts} restarts)`);
console.log('');
console.log('| requests | count | share |');
console.log('|---|---:|---:|');
console.log(`| sent | ${tally.sent} | 100% |`);
console.log(`| completed | ${tally.completed} | ${pct(tally.completed)} |`);
console.log(`| completed after a retry | ${tally.retried} | ${pct(tally.retried)} |`);
console.log(`| failed before the first byte | ${tally.failedBeforeStart} | ${pct(tally.failedBeforeStart)} |`);
console.log(`| failed mid-stream (error in the stream's shape) | ${tally.failedMidStream} | ${pct(tally.failedMidStream)} |`);
console.log(`| answers without X-Fleet-Request-Id | ${tally.noId} | ${pct(tally.noId)} |`);
console.log('');
console.log(`trace rows: ${rows.size} requests, ${retriedRows} retried attempts; requests without a row: ${missing}, with other than one final row: ${notOne}, final status not matching what the client saw: ${mismatched}, rows no client saw: ${orphanRows}`);
const oneRowEach = missing === 0 && notOne === 0 && mismatched === 0 && tally.noId === 0;
console.log(`every request has exactly one final trace row: ${oneRowEach ? 'yes' : 'NO'}`);
console.log(`herd exit status after SIGTERM: ${herdExit}`);
const bad = await stopAll();
if (bad.length) console.log(`programs that did not stop cleanly: ${bad.length}`);
process.exit(oneRowEach && herdExit === 0 && bad.length === 0 ? 0 : 1);
