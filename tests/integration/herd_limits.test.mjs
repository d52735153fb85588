// Limits against abuse, each with its error: header size and count, body size, the header
// deadline (slowloris), connections per client address, requests per second per key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, curl, eventually, sleep, tempDir } from './lib/harness.mjs';

const KEY_ONE = 'limits-key-one-0123456789';
const KEY_TWO = 'limits-key-two-0123456789';
let sim;
let herd;
let loop;

before(async () => {
  const s = await startSim(['--name', 'alpha', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  sim = { name: 'alpha', url: s.url };
  herd = await startHerd(['--max-header-kb', '2', '--max-headers', '20', '--header-timeout', '1', '--max-body-mb', '1',
    '--rate-limit', '2', '--rate-limit-burst', '3', '--api-keys', `one:${KEY_ONE},two:${KEY_TWO}`]);
  loop = heartbeatLoop(herd, [sim]);
  await loop.ready;
});
after(() => loop.stop());

// A raw connection: what the server sends, and when it closes.
function rawConnection(port) {
  const sock = connect(port, '127.0.0.1');
  const conn = { sock, data: '', closedAt: 0 };
  sock.setEncoding('utf8');
  sock.on('data', (d) => { conn.data += d; });
  sock.on('close', () => { conn.closedAt = Date.now(); });
  sock.on('error', () => {});
  conn.ready = new Promise((r) => sock.on('connect', r));
  return conn;
}

const status = (out) => Number(out.split('\n').at(-1));
const body = (out) => JSON.parse(out.split('\n').slice(0, -1).join('\n'));

test('headers too large or too many: 431 in the API\'s shape, and the connection closed', async () => {
  const auth = ['-H', `Authorization: Bearer ${KEY_TWO}`];
  let r = await curl(['-s', '-w', '\n%{http_code}', ...auth, '-H', `X-Big: ${'a'.repeat(3000)}`, `${herd.url}/api/tags`]);
  assert.equal(status(r.stdout), 431);
  assert.equal(body(r.stdout).error, 'request headers too large: more than 2048 bytes');
  r = await curl(['-s', '-w', '\n%{http_code}', ...auth, '-H', `X-Big: ${'a'.repeat(3000)}`, `${herd.url}/v1/models`]);
  assert.equal(status(r.stdout), 431);
  assert.equal(body(r.stdout).error.message, 'request headers too large: more than 2048 bytes');
  const many = Array.from({ length: 25 }, (_, i) => ['-H', `X-H${i}: v`]).flat();
  r = await curl(['-s', '-w', '\n%{http_code}', ...auth, ...many, `${herd.url}/api/tags`]);
  assert.equal(status(r.stdout), 431);
  assert.equal(body(r.stdout).error, 'too many request headers: more than 20');
  // Far over the limit: refused as it arrives, before the rest is read.
  r = await curl(['-s', '-w', '\n%{http_code}', ...auth, '-H', `X-Big: ${'a'.repeat(100000)}`, `${herd.url}/api/tags`]);
  assert.equal(status(r.stdout), 431);
  r = await curl(['-s', '-w', '\n%{http_code}', ...auth, `${herd.url}/api/tags`]);
  assert.equal(status(r.stdout), 200, 'a normal request still goes');
});

test('a body over the limit: 413', async () => {
  const file = join(tempDir(), 'big.json');
  writeFileSync(file, `{"model":"qwen2.5:7b","prompt":"${'x'.repeat(1100000)}"}`);
  const r = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${KEY_TWO}`, '-H', 'Content-Type: application/json',
    '--data-binary', `@${file}`, `${herd.url}/api/generate`]);
  assert.equal(r.stdout, '413');
});

test('slowloris: headers not finished within the deadline get 408 and the connection closed', async () => {
  const slow = rawConnection(herd.port);
  const idle = rawConnection(herd.port);
  await Promise.all([slow.ready, idle.ready]);
  const started = Date.now();
  slow.sock.write('POST /api/chat HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => { if (!slow.closedAt) slow.sock.write(`X-Drip-${Date.now()}: 1\r\n`); }, 200);
  await eventually(() => slow.closedAt > 0, { timeoutMs: 4000 });
  clearInterval(drip);
  const took = slow.closedAt - started;
  assert.ok(took >= 900 && took < 3000, `closed after ${took} ms`);
  assert.match(slow.data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.match(slow.data, /"error":"the request's headers did not arrive in time; connection closed"/);
  // A connection that sent nothing is idle, not slow: it stays open.
  assert.equal(idle.closedAt, 0);
  idle.sock.write('GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(() => idle.data.includes('"version"'));
  idle.sock.destroy();
  await eventually(() => /did not send its request headers within 1 s/.test(readFileSync(join(herd.dataDir, 'logs', 'herd.jsonl'), 'utf8')));
});

test('requests per second per key: 429 with Retry-After in each API\'s shape; other keys unaffected', async () => {
  const get = (path, key) => fetch(`${herd.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  await sleep(1600); // a full bucket for key one
  const codes = [];
  for (let i = 0; i < 3; i++) codes.push((await get('/api/tags', KEY_ONE)).status);
  assert.deepEqual(codes, [200, 200, 200], 'the burst');
  const over = await get('/api/tags', KEY_ONE);
  assert.equal(over.status, 429);
  assert.ok(Number(over.headers.get('retry-after')) >= 1);
  assert.match((await over.json()).error, /^rate limit: one may send 2 requests per second \(bursts of 3\); retry in 0\.\d s$/);
  const overV1 = await get('/v1/models', KEY_ONE);
  assert.equal(overV1.status, 429);
  assert.equal((await overV1.json()).error.type, 'rate_limit_error');
  assert.equal((await get('/api/tags', KEY_TWO)).status, 200);
  await sleep(600);
  assert.equal((await get('/api/tags', KEY_ONE)).status, 200, 'a token came back');
});

test('without keys the rate limit is per client address', async () => {
  const h = await startHerd(['--rate-limit', '1', '--rate-limit-burst', '2']);
  try {
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await fetch(`${h.url}/api/tags`)).status);
    assert.deepEqual(codes, [200, 200, 429]);
    const over = await fetch(`${h.url}/v1/models`);
    assert.equal(over.status, 429);
    assert.match((await over.json()).error.message, /^rate limit: 127\.0\.0\.1 may send 1 requests per second \(bursts of 2\)/);
    assert.equal((await fetch(`${h.url}/api/version`)).status, 200, 'open paths are not counted');
  } finally {
    await h.stop();
  }
});

test('connections per client address: requests on connections beyond the limit get 429', async () => {
  const h = await startHerd(['--max-connections-per-client', '3']);
  try {
    const held = [rawConnection(h.port), rawConnection(h.port), rawConnection(h.port)];
    await Promise.all(held.map((c) => c.ready));
    await sleep(100);
    const extra = rawConnection(h.port);
    await extra.ready;
    extra.sock.write('GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => extra.closedAt > 0);
    assert.match(extra.data, /^HTTP\/1\.1 429 /);
    assert.match(extra.data, /Retry-After: 1\r\n/);
    assert.match(extra.data, /"error":"too many connections from 127\.0\.0\.1 \(at most 3 at a time\); close some and retry"/);
    held[0].sock.destroy();
    await eventually(async () => {
      const c = rawConnection(h.port);
      await c.ready;
      c.sock.write('GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await eventually(() => c.closedAt > 0);
      return c.data.startsWith('HTTP/1.1 200');
    }, { timeoutMs: 3000 });
    for (const c of held) c.sock.destroy();
  } finally {
    await h.stop();
  }
});
