#!/usr/bin/env node
// Streaming scale: many concurrent long streams through herd. Simulated nodes generate at a
// steady 30 tokens per second per stream; wrk holds N connections open, each asking for one
// 300-token NDJSON stream after another. For each N: herd's resident memory (peak), the chunks
// herd relayed per second (counted by wrk in the replies it received), and herd's CPU time,
// from which chunks per second of one core follow. herd and the nodes start afresh for each
// N. Prints figures and writes bench/results/streams.md.
//
// Each stream holds two of herd's file descriptors (client and node); N is capped so that
// 2 N + 100 fits under the open-files hard limit (20,000 on some containers).
//
//   node bench/streams.mjs [--streams 1000,2500,5000,10000] [--seconds 20] [--reps 1]
//   node bench/streams.mjs --smoke     (200 and 500 streams, 6 s)
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine, median, fmt, table, resultsDir, writeReport, lineChart, writePlot, cpuSeconds, rssMiB, peakRssMiB, wrk } from './lib/report.mjs';
import { startSim, startHerd, startNode, stopAll, fleetOnline, tempDir, haveCommand } from '../tests/integration/lib/programs.mjs';

const o = { streams: [1000, 2500, 5000, 10000], seconds: 20, reps: 1, smoke: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--smoke') Object.assign(o, { streams: [200, 500], seconds: 6, smoke: true });
  else if (a === '--streams') o.streams = argv[++i].split(',').map(Number);
  else if (a === '--seconds') o.seconds = Number(argv[++i]);
  else if (a === '--reps') o.reps = Number(argv[++i]);
  else {
    console.error('usage: node bench/streams.mjs [--smoke] [--streams N,N,...] [--seconds S] [--reps N]');
    process.exit(2);
  }
}
if (!haveCommand('wrk')) {
  console.error('streams: needs wrk (Debian package wrk; scripts/install-deps.sh installs it)');
  process.exit(2);
}
const hardLimit = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || 1048576;
const cap = Math.floor((hardLimit - 100) / 2);

// Slots: 2 nodes x 20 models x 256 parallel slots = 10,240 streams at once. Each model is
// tiny, so generation speed is set by bandwidth: 0.7 x 4.29 GB/s / 0.1 GB = 30 tokens/s.
const MODELS = Array.from({ length: 20 }, (_, k) => `tiny${k}:1b`);
const NODES = 2;
const TOKENS = 300;
// Written again for each run: stopAll() removes the scratch directories.
function writeScript() {
  const path = join(tempDir(), 'streams.lua');
  writeFileSync(path, `
local bodies = {}
for k = 0, ${MODELS.length - 1} do
  bodies[#bodies + 1] = '{"model":"tiny' .. k .. ':1b","messages":[{"role":"user","content":"tell me a long story"}],"stream":true,"options":{"num_predict":${TOKENS}}}'
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/api/chat", {["Content-Type"] = "application/json"}, bodies[(n % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"status":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status))
end
`);
  return path;
}

// The bytes of one whole reply as wrk reads it, over a raw connection.
function rawStreamBytes(port) {
  const body = JSON.stringify({ model: MODELS[0], messages: [{ role: 'user', content: 'tell me a long story' }], stream: true, options: { num_predict: TOKENS } });
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const sock = connect(port, '127.0.0.1', () => sock.write(`POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
    sock.on('data', (d) => { bytes += d.length; });
    sock.on('end', () => resolve(bytes));
    sock.on('error', reject);
  });
}

async function runOnce(n) {
  const args = ['--memory-gb', '2000', '--bandwidth-gbps', '4.29', '--parallel-efficiency', '1', '--num-parallel', '256',
    '--max-loaded', '64', '--context-length', '1024', '--max-queue', '100000', '--tokens', `${TOKENS}-${TOKENS}`];
  for (const m of MODELS) args.push('--model', `${m}=0.1`, '--loaded', m);
  const sims = [];
  for (let k = 0; k < NODES; k++) sims.push(await startSim(['--name', `n${k}`, ...args], { timeScale: '1' }));
  const herd = await startHerd(['--console-log-level', 'error', '--max-connections-per-client', '0', '--max-queue', '100000',
    '--idle-timeout', '600', '--stale-timeout', '3600'], { env: { FLEET_VRAM_FALLBACK: 'false' } });
  await Promise.all(sims.map((s, k) => startNode({ ollama: s.url, router: herd.url, nodeId: `n${k}`, interval: '1', args: ['--metrics', 'herd-sim'] })));
  await fleetOnline(herd.url, NODES, { loaded: MODELS.length });
  const pid = herd.proc.pid;
  const idleRss = rssMiB(pid);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const r = wrk(['-t', '2', '-c', String(n), '-d', `${o.seconds}s`, '--timeout', '60s', '-s', writeScript(), herd.url], o.seconds);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const peak = peakRssMiB(pid);
  // wrk counts every byte it read, of finished and unfinished streams alike; one whole stream
  // read the same way (status line, headers, chunked framing) gives the bytes per chunk.
  const bytesPerChunk = (await rawStreamBytes(herd.port)) / (TOKENS + 1);
  const chunks = r.bytes / bytesPerChunk;
  await stopAll();
  const duration = r.duration_us / 1e6;
  return { n, requests: r.requests, errors: r.errors + r.status, chunksPerSec: chunks / duration, cpu, cpuShare: cpu / wall,
    chunksPerCoreSec: chunks / Math.max(1e-9, cpu), idleRss, peakRss: peak };
}

const steps = o.streams.map((n) => Math.min(n, cap));
console.log(`streams: ${steps.join(', ')} concurrent streams of ${TOKENS} tokens at 30 tokens/s, ${o.seconds} s each${steps.some((s, k) => s !== o.streams[k]) ? ` (capped at ${cap} by the open-files limit ${hardLimit})` : ''}`);
const m = machine();
const startedAt = Date.now();
const res = {};
for (let rep = 0; rep < o.reps; rep++) {
  for (const n of steps) {
    const s = await runOnce(n);
    (res[n] ||= []).push(s);
    console.log(`rep ${rep + 1} streams ${n}: ${fmt(s.chunksPerSec, 0)} chunks/s relayed, herd CPU ${fmt(100 * s.cpuShare, 0)}% of a core -> ${fmt(s.chunksPerCoreSec, 0)} chunks per CPU second; RSS idle ${fmt(s.idleRss, 1)} MiB, peak ${fmt(s.peakRss, 1)} MiB; ${s.requests} streams completed${s.errors ? `, errors ${s.errors}` : ''}`);
  }
}
const med = (n, f) => median(res[n].map(f));
const lines = ['# Streaming scale', '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${m}. Command: \`node bench/streams.mjs${argv.length ? ` ${argv.join(' ')}` : ''}\` (${((Date.now() - startedAt) / 60000).toFixed(1)} min).`, '',
  `Two herd-sim nodes (20 tiny models each, 256 parallel slots per model) generate every stream at 30 tokens/s; wrk keeps N connections open through herd, each asking for one ${TOKENS}-token NDJSON chat stream (${TOKENS + 1} lines) after another, for ${o.seconds} s. ` +
  `Chunks relayed per second: the bytes wrk read (finished and unfinished streams) over the bytes of one chunk as wrk reads it (one whole stream read the same way). CPU is herd's own (user + system) over the run; chunks per CPU second is what one core of herd relays. RSS: herd's resident memory before the load and its peak during it. herd, the nodes and wrk share the machine's two cores, so at the larger N the nodes and wrk cannot produce and read all 30 tokens/s of every stream: the relayed rate is then what the machine could feed, and chunks per CPU second is herd's own figure. ` +
  `Each stream uses two of herd's descriptors; the open-files hard limit here is ${hardLimit}, so N is capped at ${cap}.${o.reps > 1 ? ` Medians over ${o.reps} repetitions.` : ''}`, '',
  table(['streams', 'completed streams', 'errors', 'chunks/s relayed', 'herd CPU (cores)', 'chunks per herd CPU second', 'RSS idle MiB', 'RSS peak MiB', 'RSS per stream KiB'],
    steps.map((n) => [n, fmt(med(n, (s) => s.requests), 0), fmt(med(n, (s) => s.errors), 0), fmt(med(n, (s) => s.chunksPerSec), 0), fmt(med(n, (s) => s.cpuShare)),
      fmt(med(n, (s) => s.chunksPerCoreSec), 0), fmt(med(n, (s) => s.idleRss), 1), fmt(med(n, (s) => s.peakRss), 1),
      fmt((1024 * (med(n, (s) => s.peakRss) - med(n, (s) => s.idleRss))) / n, 1)])), ''];
const rdir = resultsDir(o.smoke);
const x = steps.map(String);
lines.push(`![rss](${writePlot(rdir, 'streams-rss.svg', lineChart({ title: 'herd peak RSS', xLabel: 'concurrent streams', yLabel: 'MiB', x, series: [{ name: 'peak RSS', values: steps.map((n) => med(n, (s) => s.peakRss)) }] }))})`, '',
  `![chunks](${writePlot(rdir, 'streams-chunks.svg', lineChart({ title: 'chunks relayed per second', xLabel: 'concurrent streams', yLabel: 'chunks/s', x,
    series: [{ name: 'relayed', values: steps.map((n) => med(n, (s) => s.chunksPerSec)) }, { name: 'per herd CPU second', values: steps.map((n) => med(n, (s) => s.chunksPerCoreSec)) }] }))})`, '');
const path = writeReport(rdir, 'streams', lines.join('\n'));
console.log(lines.filter((l) => l.startsWith('|')).join('\n'));
console.log(`streams: report in ${path}`);
await stopAll();
