// Open WebUI's calls to its Ollama, replayed as its backend makes them (open_webui/routers/
// ollama.py: the JSON bodies, a DELETE with a body, pull with insecure, create from a
// Modelfile-like request, unload with keep_alive 0), once against one simulator and once
// through herd in front of two machines that hold the same models between them. Each step's
// outcome must be the same. herd's documented additions (docs/clients.md) are left out of the
// comparison: the X-Fleet-* headers, herd_version in /api/version, the fleet_* fields of the
// listings and details.fleet_nodes / details.loaded_on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, startHerd, heartbeatLoop, eventually } from './lib/harness.mjs';

let solo;
let herd;
let loop;
after(() => loop?.stop());

before(async () => {
  solo = await startSim(['--name', 'solo', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:1b=1.3', '--loaded', 'qwen2.5:7b']);
  const a = await startSim(['--name', 'a', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b']);
  const b = await startSim(['--name', 'b', '--model', 'llama3.2:1b=1.3']);
  herd = await startHerd(['--auto-pull=false']);
  loop = heartbeatLoop(herd, [{ name: 'a', url: a.url }, { name: 'b', url: b.url }]);
  await loop.ready;
  await eventually(async () => (await (await fetch(`${herd.url}/api/tags`)).json()).models.every((m) => m.digest));
});

const HERD_ONLY = ['fleet_nodes', 'fleet_node', 'fleet_digests', 'herd_version'];
function strip(v) {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) if (!HERD_ONLY.includes(k)) o[k] = strip(x);
    if (o.details) { delete o.details.fleet_nodes; delete o.details.loaded_on; }
    return o;
  }
  return v;
}

async function call(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') || '';
  let parsed = null;
  if (type.includes('ndjson')) parsed = text.trim().split('\n').map((l) => JSON.parse(l));
  else if (text) { try { parsed = JSON.parse(text); } catch { parsed = text; } }
  return { status: res.status, type: type.split(';')[0], body: parsed, empty: text === '' };
}

// What Open WebUI reads of each answer.
async function replay(base) {
  const out = {};
  const names = (r) => r.body.models.map((m) => m.name).sort();
  out.version = await call(base, 'GET', '/api/version');
  out.version = { status: out.version.status, has: typeof out.version.body.version === 'string' };
  const tags = await call(base, 'GET', '/api/tags');
  out.tags = { status: tags.status, names: names(tags), entries: strip(tags.body.models).map((m) => ({ ...m, modified_at: undefined })) };
  const ps = await call(base, 'GET', '/api/ps');
  out.ps = { status: ps.status, names: names(ps), keys: ps.body.models.map((m) => Object.keys(strip(m)).sort()) };
  const show = await call(base, 'POST', '/api/show', { model: 'qwen2.5:7b' });
  out.show = { status: show.status, details: show.body.details, caps: show.body.capabilities };
  const chat = await call(base, 'POST', '/api/chat', { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { temperature: 0.7 } });
  out.chat = { status: chat.status, done: chat.body.done, role: chat.body.message.role, content: chat.body.message.content.length > 0 };
  const streamed = await call(base, 'POST', '/api/chat', { model: 'qwen2.5:7b', messages: [{ role: 'user', content: 'hi' }], stream: true });
  out.streamed = { status: streamed.status, type: streamed.type, last: streamed.body.at(-1).done, lines: streamed.body.length > 1 };
  const pull = await call(base, 'POST', '/api/pull', { model: 'gemma3:4b', insecure: true });
  out.pull = { status: pull.status, type: pull.type, first: pull.body[0].status, last: pull.body.at(-1) };
  const copy = await call(base, 'POST', '/api/copy', { source: 'llama3.2:1b', destination: 'webui-copy' });
  out.copy = { status: copy.status, empty: copy.empty };
  const create = await call(base, 'POST', '/api/create', { model: 'webui-custom', from: 'qwen2.5:7b', system: 'You are a pirate.', parameters: { temperature: 0.2, num_ctx: 8192 }, stream: true });
  out.create = { status: create.status, last: create.body.at(-1), layers: create.body.some((l) => /^creating new layer/.test(l.status)) };
  await eventually(async () => names(await call(base, 'GET', '/api/tags')).includes('webui-custom:latest'));
  const del = await call(base, 'DELETE', '/api/delete', { name: 'webui-copy' });
  out.delete = { status: del.status, empty: del.empty };
  const del2 = await call(base, 'DELETE', '/api/delete', { model: 'webui-copy' });
  out.delete_again = { status: del2.status, error: typeof del2.body.error };
  const unload = await call(base, 'POST', '/api/generate', { model: 'qwen2.5:7b', keep_alive: 0, prompt: '' });
  out.unload = { status: unload.status, reason: unload.body.done_reason, done: unload.body.done };
  await eventually(async () => !names(await call(base, 'GET', '/api/ps')).includes('qwen2.5:7b'));
  out.after = names(await call(base, 'GET', '/api/tags'));
  return out;
}

test('Open WebUI\'s calls: the same outcomes from one Ollama and from herd', async () => {
  const direct = await replay(solo.url);
  const through = await replay(herd.url);
  for (const step of Object.keys(direct)) assert.deepEqual(through[step], direct[step], step);
  // What the comparison covered.
  assert.deepEqual(direct.after, ['gemma3:4b', 'llama3.2:1b', 'qwen2.5:7b', 'webui-custom:latest']);
  assert.equal(direct.unload.reason, 'unload');
  assert.deepEqual(direct.pull.last, { status: 'success' });
});
