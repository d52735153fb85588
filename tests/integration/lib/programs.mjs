// The real programs on loopback ports they pick themselves, and HTTP helpers to talk to them.
// Used by the tests (through harness.mjs) and by the benchmarks; stopAll() ends them.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUILD = process.env.HERD_BUILD_DIR || join(process.cwd(), 'build');
export const SOURCE = process.env.HERD_SOURCE_DIR || process.cwd();

const children = new Set();
const finished = [];
const scratch = [];
// A script that ends without stopAll() (an exception, process.exit) must not leave its
// programs running: they would load the machine for whatever runs next.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
// Stops every program still running and removes the scratch directories; returns the
// programs that did not stop cleanly (an exit code other than 0, or a sanitizer report).
export async function stopAll() {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all([...children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode ? r() : c.on('exit', r)))));
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
  return finished.filter((c) => !c.expectFailure && (c.exitCode !== 0 || /Sanitizer|runtime error:/.test(c.stderrText)));
}

// Spawns a program, inside network namespace netns when given (ip netns exec replaces itself
// with the program, so the child is the program).
export function spawnIn(netns, bin, argv, opts) {
  return netns ? spawn('ip', ['netns', 'exec', netns, bin, ...argv], opts) : spawn(bin, argv, opts);
}

export function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'herd-test-'));
  scratch.push(d);
  return d;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForFile(path, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      try {
        return JSON.parse(readFileSync(path, 'utf8'));
      } catch { /* being written */ }
    }
    if (proc.exitCode !== null) throw new Error(`process exited with ${proc.exitCode}: ${proc.stderrText}`);
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${path}: ${proc.stderrText}`);
}

// Starts herd-sim with extra arguments; resolves to { url, port, nodes, proc, stop }.
// Models stay loaded unless a test says otherwise: at a time scale of 0.001, Ollama's default
// five minutes of keep-alive last 0.3 s, less than a test file takes.
export async function startSim(args = [], { timeScale = '0.001', profile, netns } = {}) {
  const dir = tempDir();
  const ready = join(dir, 'ready.json');
  const argv = ['--port', '0', '--ready-file', ready, '--time-scale', timeScale, '--log-level', 'warn', '--keep-alive', '-1', ...args];
  if (profile) {
    const p = join(dir, 'profile.json');
    writeFileSync(p, JSON.stringify(profile));
    argv.push('--profile', p);
  }
  const proc = spawnIn(netns, join(BUILD, 'herd-sim'), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderrText = '';
  proc.stderr.on('data', (d) => { proc.stderrText += d; });
  proc.stdout.on('data', () => {});
  children.add(proc);
  finished.push(proc);
  proc.on('exit', () => children.delete(proc));
  let info;
  try {
    info = await waitForFile(ready, proc, 15000);
  } catch (e) {
    proc.expectFailure = true; // a start that fails on purpose is checked by the caller
    throw e;
  }
  const nodes = info.nodes;
  return {
    url: nodes[0].url,
    port: nodes[0].port,
    nodes,
    proc,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      if (signal === 'SIGKILL') proc.expectFailure = true; // killed on purpose
      proc.kill(signal);
      return new Promise((r) => proc.on('exit', (code) => r(code)));
    },
  };
}

export async function getJson(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, headers: res.headers, body };
}

export function postJson(url, body, init = {}) {
  return getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

// Reads a streamed body as NDJSON objects.
export async function ndjson(res) {
  const text = await res.text();
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// Splits an SSE body into its data payloads.
export function sseData(text) {
  return text.split('\n\n').filter((e) => e.trim()).map((e) =>
    e.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'));
}

export async function fault(url, spec) {
  const r = await postJson(`${url}/_sim/fault`, spec);
  if (r.status !== 200) throw new Error(`fault rejected: ${JSON.stringify(r.body)}`);
  return r.body;
}
export const clearFaults = (url) => getJson(`${url}/_sim/fault`, { method: 'DELETE' });
export const simState = async (url) => (await getJson(`${url}/_sim/state`)).body;
export const simRequests = async (url) => (await getJson(`${url}/_sim/requests`)).body.requests;

// Runs curl (a real client nobody here wrote); resolves to { code, stdout, stderr }.
export function curl(args, { timeoutMs = 20000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn('curl', ['-sS', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

// Polls fn until it returns a truthy value (bounded), for state that settles asynchronously.
export async function eventually(fn, { timeoutMs = 5000, intervalMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(intervalMs);
  }
  throw new Error(`condition not met in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

export function haveCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

// Starts herd on a free port with its data in a temporary directory (env: more FLEET_*
// variables); resolves to { url, port, dataDir, proc, stop }.
export async function startHerd(args = [], { env = {}, netns } = {}) {
  const dataDir = tempDir();
  const argv = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--heartbeat-interval', '0.2',
    '--console-log-level', 'warn', ...args];
  const proc = spawnIn(netns, join(BUILD, 'herd'), argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEET_ENV_FILE: '/nonexistent', ...env } });
  proc.stderrText = '';
  proc.stderr.on('data', (d) => { proc.stderrText += d; });
  children.add(proc);
  finished.push(proc);
  proc.on('exit', () => children.delete(proc));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`herd did not start: ${proc.stderrText}`)), 15000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on port (\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(t); proc.expectFailure = true; reject(new Error(`herd exited ${code}: ${proc.stderrText}`)); });
  });
  return {
    url: `http://127.0.0.1:${port}`, port, dataDir, proc,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      if (signal === 'SIGKILL') proc.expectFailure = true; // killed on purpose
      proc.kill(signal);
      return new Promise((r) => proc.on('exit', (code) => r(code)));
    },
  };
}

// Starts herd-node for one Ollama (or herd-sim) URL; resolves once it runs. args come after the
// defaults, so they override them. Returns { proc, dataDir, nodeId, stop, log() } where log()
// reads the agent's JSON-lines log file.
export async function startNode({ ollama, router, nodeId = 'node-a', interval = '0.2', args = [], netns, env = {}, dataDir = tempDir() } = {}) {
  const argv = [...(nodeId ? ['--node-id', nodeId] : []), '--data-dir', dataDir, '--heartbeat-interval', String(interval),
    '--console-log-level', 'warn', '--models-dir', dataDir];
  if (ollama) argv.push('--ollama-host', ollama);
  if (router) argv.push('--router-url', router);
  argv.push(...args);
  const proc = spawnIn(netns, join(BUILD, 'herd-node'), argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEET_ENV_FILE: '/nonexistent', ...env } });
  proc.stderrText = '';
  proc.stderr.on('data', (d) => { proc.stderrText += d; });
  proc.stdout.on('data', () => {});
  children.add(proc);
  finished.push(proc);
  proc.on('exit', () => children.delete(proc));
  const logFile = join(dataDir, 'logs', 'herd-node.jsonl');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)) : []);
  const started = (l) => l.some((e) => /herd-node \S+: node /.test(e.msg));
  await eventually(() => proc.exitCode !== null || started(log()), { timeoutMs: 10000 });
  if (proc.exitCode !== null) {
    proc.expectFailure = true;
    throw new Error(`herd-node exited ${proc.exitCode}: ${proc.stderrText}`);
  }
  return {
    proc, dataDir, nodeId, log,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      if (signal === 'SIGKILL') proc.expectFailure = true; // killed on purpose
      proc.kill(signal);
      return new Promise((r) => proc.on('exit', (code) => r(code)));
    },
  };
}

// The node's entry in herd's /fleet/status, or undefined.
export async function fleetNode(herdUrl, nodeId) {
  const r = await getJson(`${herdUrl}/fleet/status`);
  return (r.body.nodes || []).find((n) => n.node_id === nodeId);
}

// Waits until herd lists at least `nodes` nodes online, each with at least `loaded` models
// loaded (bounded; throws when it does not happen).
export function fleetOnline(herdUrl, nodes, { loaded = 1, timeoutMs = 20000 } = {}) {
  return eventually(async () => {
    const r = await getJson(`${herdUrl}/fleet/status`).catch(() => null);
    const up = (r?.body?.nodes || []).filter((n) => n.status === 'online' && (n.ollama?.models_loaded || []).length >= loaded);
    return up.length >= nodes;
  }, { timeoutMs, intervalMs: 50 });
}

// A heartbeat describing a simulated node as herd-node would: its loaded and available models
// from the node's own /api/ps and /api/tags, plus the given machine facts.
export async function heartbeatFor(node, facts = {}) {
  const ps = (await getJson(`${node.url}/api/ps`)).body.models || [];
  const tags = (await getJson(`${node.url}/api/tags`)).body.models || [];
  const { memory, ollama, ...rest } = facts;
  return {
    node_id: node.name,
    ollama_host: node.url,
    lan_ip: '127.0.0.1',
    cpu: { cores_physical: 8, utilization_pct: 10 },
    memory: { total_gb: 64, used_gb: 16, available_gb: 48, pressure: 'normal', ...(memory || {}) },
    ollama: {
      // As herd-node sends them (ollama_state.c): GiB for the scores, bytes for the listings.
      models_loaded: ps.map((m) => ({
        name: m.name, size_gb: m.size / 1e9, size: m.size, size_vram: m.size_vram, context_length: m.context_length,
        expires_at: m.expires_at, parameter_size: m.details?.parameter_size, quantization: m.details?.quantization_level,
      })),
      models_available: tags.map((m) => ({ name: m.name, size_gb: m.size / 1e9, capabilities: m.capabilities })),
      ...(ollama || {}),
    },
    ...rest,
  };
}

export async function postHeartbeat(herd, body) {
  const r = await postJson(`${herd.url}/heartbeat`, body);
  if (r.status !== 200) throw new Error(`heartbeat refused: ${JSON.stringify(r.body)}`);
  return r.body;
}

// Keeps every node's heartbeat flowing to herd (every intervalMs) until stop() is called;
// facts may be an object or a function of the node returning one.
export function heartbeatLoop(herd, nodes, facts = {}, intervalMs = 150) {
  let stopped = false;
  let paused = false;
  let running = Promise.resolve();
  const beat = async () => {
    for (const n of nodes) {
      if (stopped || paused) return;
      const f = typeof facts === 'function' ? facts(n) : facts[n.name] || {};
      try {
        await postHeartbeat(herd, await heartbeatFor(n, f));
      } catch { /* a node or herd stopping at the end of a test */ }
    }
  };
  const ready = beat();
  const timer = setInterval(() => { if (!stopped && !paused) running = beat(); }, intervalMs);
  return {
    ready,
    beat,
    // No heartbeat is sent between pause() (once the one under way has arrived) and resume():
    // a test can change a node and see what herd does before the next heartbeat tells it.
    async pause() { paused = true; await running; },
    resume() { paused = false; },
    async stop() { stopped = true; clearInterval(timer); await running; },
  };
}
