// The dashboard as served by herd: pages and assets from the binary (nothing from the
// network), and the live stream that keeps the fleet page current.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatFor, postHeartbeat, getJson, curl, SOURCE } from './lib/harness.mjs';

const streams = [];
after(() => { for (const s of streams) s.abort(); });

// Opens /dashboard/events; next() resolves to the next event's JSON.
async function events(url) {
  const ctl = new AbortController();
  streams.push(ctl);
  const res = await fetch(`${url}/dashboard/events`, { signal: ctl.signal });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  return {
    res,
    abort: () => ctl.abort(),
    async next() {
      for (;;) {
        const i = buf.indexOf('\n\n');
        if (i >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          return JSON.parse(frame.replace(/^data: /, ''));
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += dec.decode(value, { stream: true });
      }
    },
  };
}

test('every tab is the page; its script, styles and Chart.js come from herd itself', async () => {
  const herd = await startHerd();
  for (const p of ['/dashboard', '/dashboard/', '/dashboard/trends', '/dashboard/models', '/dashboard/apps', '/dashboard/tags', '/dashboard/health', '/dashboard/settings']) {
    const r = await fetch(`${herd.url}${p}`);
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    const html = await r.text();
    assert.match(html, /<script src="\/dashboard\/static\/app.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'no resource from elsewhere');
  }
  const js = await fetch(`${herd.url}/dashboard/static/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal(await js.text(), readFileSync(join(SOURCE, 'web/dashboard/app.js'), 'utf8'));
  const chart = await fetch(`${herd.url}/dashboard/static/chart.min.js`);
  assert.equal(Buffer.from(await chart.arrayBuffer()).equals(readFileSync('/usr/share/javascript/chart.js/chart.min.js')), true);
  assert.match((await fetch(`${herd.url}/dashboard/static/app.css`)).headers.get('content-type'), /^text\/css/);
  const missing = await fetch(`${herd.url}/dashboard/static/../../etc/passwd`);
  assert.equal(missing.status, 404);
  const head = await curl(['-sI', `${herd.url}/dashboard/static/app.js`]);
  assert.match(head.stdout, /200 OK/);
});

test('the live stream sends the fleet at once and again when it changes', async () => {
  const sim = await startSim(['--name', 'box', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:3b=2', '--loaded', 'qwen2.5:7b']);
  const herd = await startHerd();
  const node = { name: 'box', url: sim.url };
  await postHeartbeat(herd, await heartbeatFor(node));
  const s = await events(herd.url);
  assert.match(s.res.headers.get('content-type'), /^text\/event-stream/);
  const first = await s.next();
  assert.equal(first.fleet.nodes_online, 1);
  assert.deepEqual(first.nodes[0].ollama.models_loaded.map((m) => m.name), ['qwen2.5:7b']);
  // A model loads on the node: a later event shows it, with no new request from the page.
  await postJson(`${sim.url}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false });
  await postHeartbeat(herd, await heartbeatFor(node));
  let later;
  for (let i = 0; i < 3; i++) {
    later = await s.next();
    if (later.nodes[0].ollama.models_loaded.length === 2) break;
  }
  assert.deepEqual(later.nodes[0].ollama.models_loaded.map((m) => m.name).sort(), ['llama3.2:3b', 'qwen2.5:7b']);
  assert.ok(later.timestamp > first.timestamp);
  s.abort();
});

test('watchers are bounded: the 33rd gets 503, and a closed one frees its place', async () => {
  const herd = await startHerd();
  const open = [];
  for (let i = 0; i < 32; i++) open.push(await events(herd.url));
  for (const s of open) assert.equal(s.res.status, 200);
  const extra = await getJson(`${herd.url}/dashboard/events`);
  assert.equal(extra.status, 503);
  assert.match(extra.body.error, /too many dashboards/);
  open[0].abort();
  let again;
  for (let i = 0; i < 50; i++) {
    again = await fetch(`${herd.url}/dashboard/events`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (again?.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(again.status, 200);
  await again.body.cancel();
  for (const s of open) s.abort();
});

async function postJson(url, body) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return r.json();
}
