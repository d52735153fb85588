// mDNS for real: two network namespaces joined by a veth pair that this test creates (loopback
// carries no multicast), herd advertising in one, herd-node and python-zeroconf (an independent
// mDNS implementation, Debian's python3-zeroconf) in the other. Needs root for `ip netns`; CI
// runs as root. Nothing here touches the machine's real network.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startSim, startHerd, startNode, eventually, sleep, SOURCE, spawnIn } from './lib/harness.mjs';

const PY = '/usr/bin/python3';
const id = process.pid % 100000;
const NS_A = `herd-mdns-a-${id}`;
const NS_B = `herd-mdns-b-${id}`;
const ADDR_A = '10.99.0.1';
const ADDR_B = '10.99.0.2';
const NAME = 'Fleet Manager Router';
const FULL = `${NAME}._fleet-manager._tcp.local.`;

function missing() {
  if (process.getuid() !== 0) return 'needs root for ip netns';
  if (spawnSync('ip', ['-V']).status !== 0) return 'needs iproute2';
  if (spawnSync(PY, ['-c', 'import zeroconf']).status !== 0) return 'needs python3-zeroconf';
  return null;
}
const skip = missing() ?? false;

function ip(...args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

before(() => {
  if (skip) return;
  ip('netns', 'add', NS_A);
  ip('netns', 'add', NS_B);
  ip('link', 'add', `hva${id}`, 'type', 'veth', 'peer', 'name', `hvb${id}`);
  ip('link', 'set', `hva${id}`, 'netns', NS_A);
  ip('link', 'set', `hvb${id}`, 'netns', NS_B);
  ip('-n', NS_A, 'addr', 'add', `${ADDR_A}/24`, 'dev', `hva${id}`);
  ip('-n', NS_B, 'addr', 'add', `${ADDR_B}/24`, 'dev', `hvb${id}`);
  for (const [ns, dev] of [[NS_A, `hva${id}`], [NS_B, `hvb${id}`]]) {
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
});

after(() => {
  for (const p of pythons) p.kill('SIGKILL');
  if (skip) return;
  spawnSync('ip', ['netns', 'del', NS_A]);
  spawnSync('ip', ['netns', 'del', NS_B]);
});

const pythons = [];
// A python-zeroconf script in a namespace; its JSON lines are collected in events.
function python(ns, script, args) {
  const proc = spawnIn(ns, PY, [join(SOURCE, 'tests', 'integration', 'lib', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  let buf = '';
  let stderr = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  proc.stderr.on('data', (d) => { stderr += d; });
  pythons.push(proc);
  return {
    events,
    stderr: () => stderr,
    wait: (pred, timeoutMs = 10000) => eventually(() => events.find(pred), { timeoutMs }).catch((e) => {
      throw new Error(`${e.message}; ${script} said ${JSON.stringify(events)} ${stderr}`);
    }),
    stop: () => proc.kill('SIGKILL'),
  };
}

// curl inside a namespace (the test's own namespace cannot reach the veth addresses).
function nsJson(ns, url, body) {
  return new Promise((resolve) => {
    const args = ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '10', url];
    if (body) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const p = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', () => { try { resolve(JSON.parse(out)); } catch { resolve(null); } });
  });
}
const fleetNodeIn = async (ns, herdUrl, nodeId) => ((await nsJson(ns, `${herdUrl}/fleet/status`))?.nodes || []).find((n) => n.node_id === nodeId);
const herdIn = (ns, args = [], port = '0') => startHerd(['--host', '0.0.0.0', '--mdns=true', '--port', port, '--console-log-level', 'info', ...args], { netns: ns });
const logLines = (proc, re) => proc.stderrText.split('\n').filter((l) => re.test(l));

let herdA;
let node;
let browser;

test('python-zeroconf sees herd\'s advertisement, and herd-node in the other namespace joins through it', { skip }, async () => {
  browser = python(NS_B, 'zeroconf_browse.py', [ADDR_B]);
  await browser.wait((e) => e.event === 'ready');
  herdA = await herdIn(NS_A);
  const seen = await browser.wait((e) => e.event === 'added' && e.name === FULL);
  assert.equal(seen.resolved, true, browser.stderr());
  assert.deepEqual(seen.addresses, [ADDR_A]);
  assert.equal(seen.port, herdA.port);
  assert.equal(seen.properties.version, '0.1.0');
  assert.equal(seen.properties.port, String(herdA.port));
  assert.equal(seen.properties.tls, '0');
  assert.equal(seen.properties.auth, '0');

  // A simulated Ollama beside the agent in namespace B, reachable from A.
  const sim = await startSim(['--host', '0.0.0.0', '--name', 'b', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b'], { netns: NS_B });
  node = await startNode({ ollama: `http://127.0.0.1:${sim.port}`, nodeId: 'ns-node', interval: '0.5', netns: NS_B, args: ['--console-log-level', 'info'] });
  const n = await eventually(() => fleetNodeIn(NS_A, herdA.url, 'ns-node'), { timeoutMs: 10000 });
  assert.equal(n.ollama_host, `http://${ADDR_B}:${sim.port}`);
  assert.equal(node.log().filter((l) => /found by mDNS as 'Fleet Manager Router'/.test(l.msg)).length, 1);
  // The whole path: a client in A, herd in A, the node's Ollama in B.
  const reply = await nsJson(NS_A, `${herdA.url}/api/chat`, { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: false });
  assert.equal(reply?.done, true, JSON.stringify(reply));
});

test('herd-node finds a coordinator that python-zeroconf advertises, by name, and reports to it', { skip }, async () => {
  const py = python(NS_A, 'zeroconf_register.py', [ADDR_A, 'Python Coordinator']);
  const reg = await py.wait((e) => e.event === 'registered');
  const sim = await startSim(['--name', 'c', '--model', 'qwen2.5:7b=4.7'], { netns: NS_B });
  const other = await startNode({ ollama: sim.url, nodeId: 'py-node', interval: '0.5', netns: NS_B, args: ['--router-name', 'python coordinator'] });
  const beat = await py.wait((e) => e.event === 'heartbeat' && e.node_id === 'py-node');
  assert.equal(beat.path, '/heartbeat');
  const chose = other.log().find((l) => /coordinator: http:/.test(l.msg));
  assert.equal(chose.msg, `coordinator: http://${ADDR_A}:${reg.port} (found by mDNS as 'Python Coordinator')`);
  // herd's own advertisement was there too; the name decided.
  assert.equal((await fleetNodeIn(NS_A, herdA.url, 'py-node')), undefined);
  assert.equal(await other.stop('SIGTERM'), 0);
  await py.wait((e) => e.event === 'heartbeat' && e.node_id === 'py-node' && e.draining === true);
  py.stop();
});

test('herd says goodbye on SIGTERM and comes back under the same name; the node follows', { skip }, async () => {
  const port = String(herdA.port);
  assert.equal(await herdA.stop('SIGTERM'), 0);
  await browser.wait((e) => e.event === 'removed' && e.name === FULL);
  const addedBefore = browser.events.filter((e) => e.event === 'added').length;
  herdA = await herdIn(NS_A, [], port);
  const again = await eventually(() => browser.events.filter((e) => e.event === 'added').slice(addedBefore)[0]);
  assert.equal(again.name, FULL); // not "Fleet Manager Router (2)"
  await eventually(() => fleetNodeIn(NS_A, herdA.url, 'ns-node'), { timeoutMs: 5000 });
  assert.equal(logLines(herdA.proc, /another machine on the network uses the name/).length, 0);

  // Killed without a goodbye: the restarted one still keeps its name.
  await herdA.stop('SIGKILL');
  herdA = await herdIn(NS_A, [], port);
  await sleep(3000); // probing and announcing
  assert.equal(logLines(herdA.proc, /another machine on the network uses the name/).length, 0);
  assert.ok(logLines(herdA.proc, /advertising 'Fleet Manager Router' /).length === 1, herdA.proc.stderrText);
  await eventually(() => fleetNodeIn(NS_A, herdA.url, 'ns-node'), { timeoutMs: 5000 });
});

test('a second herd with the same name on the network takes "NAME (2)"', { skip }, async () => {
  const herdB = await herdIn(NS_B);
  const renamed = await browser.wait((e) => e.event === 'added' && e.name === `${NAME} (2)._fleet-manager._tcp.local.`);
  assert.deepEqual(renamed.addresses, [ADDR_B]);
  assert.equal(renamed.port, herdB.port);
  await eventually(() => logLines(herdB.proc, /uses the name 'Fleet Manager Router'; advertising as 'Fleet Manager Router \(2\)'/).length === 1);
  // The first one kept its name.
  assert.equal(logLines(herdA.proc, /another machine on the network uses the name/).length, 0);
  assert.equal(await herdB.stop('SIGTERM'), 0);
  await browser.wait((e) => e.event === 'removed' && e.name.startsWith(`${NAME} (2)`));
});

test('the coordinator moves to another machine: the node finds it there', { skip }, async () => {
  await herdA.stop('SIGKILL'); // no goodbye: the node notices by failing heartbeats
  const moved = await herdIn(NS_B, ['--heartbeat-interval', '0.5']);
  const n = await eventually(() => fleetNodeIn(NS_B, moved.url, 'ns-node'), { timeoutMs: 15000 }).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(node.log().map((l) => l.msg))}`);
  });
  assert.equal(n.node_id, 'ns-node');
  // Other caches still hold the dead coordinator's records under this name: not a clash.
  const there = await browser.wait((e) => ['added', 'updated'].includes(e.event) && e.name === FULL && e.addresses?.[0] === ADDR_B);
  assert.equal(there.port, moved.port);
  assert.equal(logLines(moved.proc, /another machine on the network uses the name/).length, 0);
  assert.ok(node.log().some((l) => l.msg === `coordinator: http://${ADDR_B}:${moved.port} (found by mDNS as 'Fleet Manager Router')`), JSON.stringify(node.log().map((l) => l.msg)));
});
