// HTTPS end to end with a CA made here: client -> herd, herd-node -> herd, herd -> a node's
// Ollama behind TLS; and a wrong CA refused at each hop with a clear message, never a
// silent fall back to plain HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startHerd, startNode, curl, eventually, tempDir, BUILD, SOURCE } from './lib/harness.mjs';

let pki;
let sim;
let herd;
let node;

function openssl(args, cwd) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

// A CA, a certificate it signs for 127.0.0.1 and localhost, and another CA that signs nothing.
function makePki() {
  const dir = tempDir();
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=herd test CA'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=some other CA'], dir);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext'], dir);
  return { dir, ca: join(dir, 'ca.pem'), wrongCa: join(dir, 'other-ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

const chatBody = JSON.stringify({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: false });

before(async () => {
  pki = makePki();
  sim = await startSim(['--name', 'tls-node', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--tls-cert', pki.cert, '--tls-key', pki.key]);
  assert.match(sim.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  herd = await startHerd(['--tls-cert', pki.cert, '--tls-key', pki.key, '--tls-ca', pki.ca]);
  herd.https = `https://127.0.0.1:${herd.port}`;
  node = await startNode({ ollama: sim.url, router: herd.https, nodeId: 'tls-node', args: ['--tls-ca', pki.ca, '--metrics', 'herd-sim'] });
});
after(async () => { await node?.stop(); });

test('HTTPS end to end: client -> herd, herd-node -> herd, herd -> the node, all verified', async () => {
  await eventually(async () => {
    const r = await curl(['-s', '--cacert', pki.ca, `${herd.https}/fleet/status`]);
    return r.stdout && JSON.parse(r.stdout).nodes.some((n) => n.node_id === 'tls-node' && n.status === 'online');
  }, { timeoutMs: 8000 });
  const status = JSON.parse((await curl(['-s', '--cacert', pki.ca, `${herd.https}/fleet/status`])).stdout);
  assert.match(status.nodes[0].ollama_url, /^https:\/\/127\.0\.0\.1:\d+$/, 'an https:// Ollama stays https');
  const r = await curl(['-s', '--cacert', pki.ca, '-d', chatBody, `${herd.https}/api/chat`]);
  const reply = JSON.parse(r.stdout);
  assert.equal(reply.done, true, r.stdout);
  // The node answered over TLS: its only listener is HTTPS.
  const seen = JSON.parse((await curl(['-s', '--cacert', pki.ca, `${sim.url}/_sim/requests`])).stdout).requests;
  assert.ok(seen.some((q) => q.path === '/api/chat'));
  // The official OpenAI client, trusting the test CA the way Node is told to.
  const script = `import OpenAI from 'openai';
    const c = new OpenAI({ baseURL: '${herd.https}/v1', apiKey: 'none', maxRetries: 0 });
    const r = await c.chat.completions.create({ model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }] });
    console.log(r.choices[0].message.content.length > 0 ? 'ok' : 'empty');`;
  const file = join(SOURCE, 'tests', 'integration', `.tls-client-${process.pid}.mjs`);
  writeFileSync(file, script);
  try {
    const out = spawnSync('node', [file], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.ca }, timeout: 20000 });
    assert.equal(out.stdout.trim(), 'ok', out.stderr);
  } finally {
    spawnSync('rm', ['-f', file]);
  }
  // Plain HTTP to the HTTPS port is not served.
  const plain = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-d', chatBody, `http://127.0.0.1:${herd.port}/api/chat`]);
  assert.notEqual(plain.code, 0);
  assert.equal(plain.stdout, '000');
});

test('a wrong CA is refused at every hop, with the reason', async () => {
  // client -> herd
  const c = await curl(['-s', '-S', '--cacert', pki.wrongCa, `${herd.https}/api/version`]);
  assert.equal(c.code, 60);
  assert.match(c.stderr, /SSL certificate problem/);
  await eventually(() => /TLS with client 127\.0\.0\.1 failed: .*(unknown ca|alert)/.test(readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8')));
  // herd-node -> herd
  const stranger = await startNode({ ollama: sim.url, router: herd.https, nodeId: 'wrong-ca-node', args: ['--tls-ca', pki.wrongCa, '--metrics', 'herd-sim'] });
  await eventually(() => stranger.log().some((e) => /heartbeat to https:.* failed: SSL certificate problem: unable to get local issuer certificate/.test(e.msg)), { timeoutMs: 8000 });
  const nodes = JSON.parse((await curl(['-s', '--cacert', pki.ca, `${herd.https}/fleet/status`])).stdout).nodes.map((n) => n.node_id);
  assert.deepEqual(nodes, ['tls-node']);
  await stranger.stop();
  // herd -> node: a herd that trusts another CA cannot reach the node, and says why.
  const picky = await startHerd(['--tls-ca', pki.wrongCa]);
  const hb = { node_id: 'tls-node', ollama_host: sim.url, lan_ip: '127.0.0.1', memory: { total_gb: 64, used_gb: 8, available_gb: 56, pressure: 'normal' },
    ollama: { models_loaded: [{ name: 'qwen2.5:7b', size_gb: 4.7 }], models_available: [{ name: 'qwen2.5:7b', size_gb: 4.7 }] } };
  const beat = await fetch(`${picky.url}/heartbeat`, { method: 'POST', body: JSON.stringify(hb) });
  assert.equal(beat.status, 200);
  const r = await fetch(`${picky.url}/api/chat`, { method: 'POST', body: chatBody });
  const body = await r.json();
  assert.ok(r.status >= 500, `status ${r.status}`);
  assert.match(body.error, /SSL certificate problem|certificate/i);
  await picky.stop();
});

test('herd refuses to start with a certificate it cannot use', async () => {
  for (const [args, why] of [[['--tls-cert', '/nonexistent.pem', '--tls-key', pki.key], /cannot use the TLS certificate \(\/nonexistent\.pem/],
    [['--tls-cert', pki.cert, '--tls-key', join(pki.dir, 'other.key')], /private key does not match/],
    [['--tls-cert', pki.cert], /--tls-cert needs --tls-key/]]) {
    const r = spawnSync(join(BUILD, 'herd'), ['--port', '0', '--data-dir', tempDir(), '--no-mdns', ...args], { encoding: 'utf8', env: { ...process.env, FLEET_ENV_FILE: '/nonexistent' }, timeout: 5000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, why);
  }
});
