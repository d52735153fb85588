#!/usr/bin/env node
// Proxy overhead: the same herd-sim backend reached directly, through herd, and through nginx
// (Debian's package, an upstream block with least_conn and keep-alive to the backend, started
// here with its own configuration), with wrk as the load generator. Non-streaming and
// streaming chats at several concurrencies. For each repetition the three targets are measured
// back to back in a rotated order, so they share the machine's noise; the report gives medians
// over repetitions of the latency added over direct (p50, p99), requests per second, and CPU
// time per request of herd and of nginx. Prints figures and writes bench/results/proxy.md.
//
// herd runs on one thread; nginx gets one worker process, the like-for-like comparison.
//
//   node bench/proxy.mjs [--concurrency 1,16,64,256] [--seconds 5] [--reps 3]
//   node bench/proxy.mjs --smoke     (concurrency 1 and 16, 1 s, one repetition)
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { machine, median, fmt, table, resultsDir, writeReport, lineChart, writePlot, cpuSeconds, wrk } from './lib/report.mjs';
import { startSim, startHerd, startNode, stopAll, sleep, fleetOnline, tempDir, haveCommand } from '../tests/integration/lib/programs.mjs';

const o = { concurrency: [1, 16, 64, 256], seconds: 5, reps: 3, smoke: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--smoke') Object.assign(o, { concurrency: [1, 16], seconds: 1, reps: 1, smoke: true });
  else if (a === '--concurrency') o.concurrency = argv[++i].split(',').map(Number);
  else if (a === '--seconds') o.seconds = Number(argv[++i]);
  else if (a === '--reps') o.reps = Number(argv[++i]);
  else {
    console.error('usage: node bench/proxy.mjs [--smoke] [--concurrency N,N,...] [--seconds S] [--reps N]');
    process.exit(2);
  }
}
for (const cmd of ['wrk', 'nginx']) {
  if (!haveCommand(cmd) && !haveCommand(`/usr/sbin/${cmd}`)) {
    console.error(`proxy: needs ${cmd} (Debian packages wrk and nginx-light; scripts/install-deps.sh installs them)`);
    process.exit(2);
  }
}
const NGINX = haveCommand('nginx') ? 'nginx' : '/usr/sbin/nginx';

const MODEL = 'qwen2.5:7b';
const dir = tempDir();

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- the three targets ----

// A backend that answers at once: generation runs 10,000 times faster than the modelled
// machine, and enough slots that it never queues.
const sim = await startSim(['--name', 'backend', '--model', `${MODEL}=4.7`, '--loaded', MODEL, '--num-parallel', '256',
  '--max-queue', '100000', '--memory-gb', '1000', '--context-length', '2048'], { timeScale: '0.0001' });
const herd = await startHerd(['--console-log-level', 'error', '--max-connections-per-client', '0', '--max-queue', '100000'],
  { env: { FLEET_VRAM_FALLBACK: 'false' } });
await startNode({ ollama: sim.url, router: herd.url, nodeId: 'backend', interval: '1', args: ['--metrics', 'herd-sim'] });
await fleetOnline(herd.url, 1);

const nginxPort = await freePort();
const ngDir = join(dir, 'nginx');
mkdirSync(join(ngDir, 'logs'), { recursive: true });
mkdirSync(join(ngDir, 'tmp'));
chmodSync(ngDir, 0o777);
chmodSync(join(ngDir, 'tmp'), 0o777);
writeFileSync(join(ngDir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${ngDir}/nginx.pid;
error_log ${ngDir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${ngDir}/logs/access.log combined buffer=64k flush=1s;
  client_body_temp_path ${ngDir}/tmp/body;
  proxy_temp_path ${ngDir}/tmp/proxy;
  fastcgi_temp_path ${ngDir}/tmp/fastcgi;
  uwsgi_temp_path ${ngDir}/tmp/uwsgi;
  scgi_temp_path ${ngDir}/tmp/scgi;
  upstream ollama {
    least_conn;
    server 127.0.0.1:${sim.port};
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://ollama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
`);
const nginx = spawn(NGINX, ['-p', ngDir, '-c', join(ngDir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
process.on('exit', () => nginx.kill('SIGKILL')); // also when this script fails
let nginxErr = '';
nginx.stderr.on('data', (d) => { nginxErr += d; });
for (let i = 0; i < 100; i++) {
  const r = await fetch(`http://127.0.0.1:${nginxPort}/api/version`).catch(() => null);
  if (r?.ok) break;
  if (nginx.exitCode !== null) throw new Error(`nginx exited: ${nginxErr}`);
  await sleep(50);
}
// nginx's processes: the master and its worker.
const nginxPids = () => [nginx.pid, ...readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
  try {
    return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(nginx.pid);
  } catch {
    return false;
  }
}).map(Number)];

const targets = {
  direct: { url: sim.url, pids: () => [] },
  herd: { url: herd.url, pids: () => [herd.proc.pid] },
  nginx: { url: `http://127.0.0.1:${nginxPort}`, pids: nginxPids },
};

// ---- wrk ----

const script = (stream) => join(dir, `chat-${stream}.lua`);
for (const stream of [false, true]) {
  const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hello there' }], stream, options: { num_predict: 32 } });
  writeFileSync(script(stream), `
wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"errors":%d,"status":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`);
}

const wrkChat = (url, c, stream) => wrk(['-t', String(Math.min(2, c)), '-c', String(c), '-d', `${o.seconds}s`, '--timeout', '10s',
  '-s', script(stream), `${url}/api/chat`], o.seconds);

// Measures one target at one concurrency: wrk's figures plus the target's CPU seconds.
function measure(name, c, stream) {
  const t = targets[name];
  const pids = t.pids();
  const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
  const w = wrkChat(t.url, c, stream);
  const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
  return { rps: w.requests / (w.duration_us / 1e6), p50: w.p50 / 1000, p99: w.p99 / 1000, errors: w.errors + w.status, requests: w.requests,
    cpuUsPerReq: pids.length ? (cpu * 1e6) / Math.max(1, w.requests) : NaN };
}

// ---- the runs, interleaved ----

console.log(`proxy: direct, herd and nginx at concurrency ${o.concurrency.join(', ')}, ${o.seconds} s each, ${o.reps} repetition(s)`);
const startedAt = Date.now();
const m = machine();
const names = Object.keys(targets);
const res = {}; // res[mode][c][name] = [measurement per repetition]
for (const stream of [false, true]) {
  // A short warm-up: connections, the first trace rows, caches.
  for (const n of names) wrkChat(targets[n].url, 4, stream);
}
for (let rep = 0; rep < o.reps; rep++) {
  for (const stream of [false, true]) {
    const mode = stream ? 'streaming' : 'non-streaming';
    for (const c of o.concurrency) {
      ((res[mode] ||= {})[c] ||= {});
      const order = names.map((_, k) => names[(k + rep + c) % names.length]);
      const got = {};
      for (const n of order) got[n] = measure(n, c, stream);
      for (const n of names) (res[mode][c][n] ||= []).push(got[n]);
      console.log(`rep ${rep + 1} ${mode.padEnd(13)} c=${String(c).padEnd(3)} ` + names.map((n) => `${n} ${fmt(got[n].rps, 0)} req/s p50 ${fmt(got[n].p50, 3)} p99 ${fmt(got[n].p99, 3)} ms${got[n].errors ? ` errors ${got[n].errors}` : ''}`).join(' | '));
    }
  }
}

// ---- the report ----

const med = (mode, c, n, f) => median(res[mode][c][n].map(f));
// Added latency per repetition (target minus direct in the same repetition), then the median.
const added = (mode, c, n, key) => median(res[mode][c][n].map((r, k) => r[key] - res[mode][c].direct[k][key]));
const lines = ['# Proxy overhead: herd and nginx in front of the same backend', '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${m}. Command: \`node bench/proxy.mjs${argv.length ? ` ${argv.join(' ')}` : ''}\` (${((Date.now() - startedAt) / 60000).toFixed(1)} min).`, '',
  `Backend: one herd-sim node answering \`POST /api/chat\` (${MODEL}, 32 tokens; non-streaming: one JSON object, streaming: 33 NDJSON lines) with its modelled delays shrunk 10,000 times. ` +
  `herd (one thread, traces written to SQLite) with the node's herd-node agent; nginx ${spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '')} with one worker, \`least_conn\`, keep-alive to the backend, \`proxy_buffering off\`, a buffered access log. ` +
  `wrk ${o.seconds} s per measurement (2 threads, 1 at concurrency 1); the three targets measured back to back in a rotated order, ${o.reps} repetition(s); figures are medians over repetitions. ` +
  `Added latency is the target's percentile minus direct's in the same repetition. CPU per request is the proxy's own processes (user + system) over the requests it served. wrk, the backend and the proxy share the machine's two cores, so absolute figures move with its load; compare within a row.`, ''];
for (const mode of ['non-streaming', 'streaming']) {
  lines.push(`## ${mode}`, '');
  const rows = o.concurrency.map((c) => {
    const r = (n, f) => med(mode, c, n, f);
    const errs = names.map((n) => r(n, (x) => x.errors)).some((e) => e > 0) ? ` (errors ${names.map((n) => fmt(r(n, (x) => x.errors), 0)).join('/')})` : '';
    return [c + errs, fmt(r('direct', (x) => x.rps), 0), fmt(r('herd', (x) => x.rps), 0), fmt(r('nginx', (x) => x.rps), 0),
      fmt(r('herd', (x) => x.rps) / r('nginx', (x) => x.rps)),
      fmt(r('direct', (x) => x.p50), 3), fmt(added(mode, c, 'herd', 'p50'), 3), fmt(added(mode, c, 'nginx', 'p50'), 3),
      fmt(r('direct', (x) => x.p99), 3), fmt(added(mode, c, 'herd', 'p99'), 3), fmt(added(mode, c, 'nginx', 'p99'), 3),
      fmt(r('herd', (x) => x.cpuUsPerReq), 0), fmt(r('nginx', (x) => x.cpuUsPerReq), 0)];
  });
  lines.push(table(['concurrency', 'direct req/s', 'herd req/s', 'nginx req/s', 'herd / nginx', 'direct p50 ms', 'herd +p50 ms', 'nginx +p50 ms',
    'direct p99 ms', 'herd +p99 ms', 'nginx +p99 ms', 'herd CPU µs/req', 'nginx CPU µs/req'], rows), '');
}
const rdir = resultsDir(o.smoke);
const x = o.concurrency.map(String);
for (const mode of ['non-streaming', 'streaming']) {
  const f = mode.replace(/[^a-z]/g, '');
  lines.push(`![${mode} throughput](${writePlot(rdir, `proxy-${f}-rps.svg`, lineChart({ title: `${mode}: requests per second`, xLabel: 'concurrency', yLabel: 'req/s', x,
    series: names.map((n) => ({ name: n, values: o.concurrency.map((c) => med(mode, c, n, (r) => r.rps)) })) }))})`, '');
  lines.push(`![${mode} added p99](${writePlot(rdir, `proxy-${f}-p99.svg`, lineChart({ title: `${mode}: p99 latency added over direct`, xLabel: 'concurrency', yLabel: 'ms', x,
    series: ['herd', 'nginx'].map((n) => ({ name: n, values: o.concurrency.map((c) => added(mode, c, n, 'p99')) })) }))})`, '');
}
const path = writeReport(rdir, 'proxy', lines.join('\n'));
console.log(lines.filter((l) => l.startsWith('|') || l.startsWith('##')).join('\n'));
console.log(`proxy: report in ${path}`);
nginx.kill('SIGQUIT');
await new Promise((r) => (nginx.exitCode !== null ? r() : nginx.on('exit', r)));
await stopAll();
