// GET /metrics: valid under promtool (Debian's prometheus package), and its counters equal
// the traffic sent: requests by API, model, node and outcome, tokens, latency histograms,
// queue and node gauges, refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startSim, startHerd, heartbeatLoop, postJson, simRequests, fault, haveCommand } from './lib/harness.mjs';

let sims;
let herd;
let loop;

before(async () => {
  sims = [];
  for (const [name, args] of [['alpha', ['--model', 'qwen2.5:7b=4.7', '--model', 'nomic-embed-text=0.27', '--loaded', 'qwen2.5:7b', '--loaded', 'nomic-embed-text']],
    ['beta', ['--model', 'llama3.2:1b=1.3', '--loaded', 'llama3.2:1b']]]) {
    const s = await startSim(['--name', name, ...args]);
    sims.push({ name, url: s.url });
  }
  herd = await startHerd(['--api-keys', 'metrics-app:metrics-key-0123456789', '--max-retries', '0']);
  loop = heartbeatLoop(herd, sims, { alpha: { cpu: { cores_physical: 8, utilization_pct: 25 } } });
  await loop.ready;
});
after(() => loop.stop());

const auth = { headers: { authorization: 'Bearer metrics-key-0123456789' } };

// Parses the text format into { 'name{labels}': value }.
function parse(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

test('/metrics passes promtool and counts exactly the traffic sent', async () => {
  const chat = (model, extra = {}) => postJson(`${herd.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hi' }], stream: false, ...extra }, auth);
  for (let i = 0; i < 3; i++) assert.equal((await chat('qwen2.5:7b')).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await chat('llama3.2:1b')).status, 200);
  const oai = await postJson(`${herd.url}/v1/chat/completions`, { model: 'llama3.2:1b', messages: [{ role: 'user', content: 'hi' }] }, auth);
  assert.equal(oai.status, 200);
  assert.equal((await postJson(`${herd.url}/api/embed`, { model: 'nomic-embed-text', input: 'x' }, auth)).status, 200);
  await fault(sims[0].url, { kind: 'fail', status: 500, model: 'qwen2.5:7b', count: 1 });
  assert.equal((await chat('qwen2.5:7b')).status, 500);
  assert.equal((await fetch(`${herd.url}/api/tags`)).status, 401);

  const res = await fetch(`${herd.url}/metrics`, auth);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  if (haveCommand('promtool')) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  } else {
    assert.fail('promtool is missing (Debian package prometheus)');
  }
  const m = parse(text);
  assert.equal(m['herd_requests_total{api="/api/chat",model="qwen2.5:7b",node="alpha",status="completed"}'], 3);
  assert.equal(m['herd_requests_total{api="/api/chat",model="qwen2.5:7b",node="alpha",status="failed"}'], 1);
  assert.equal(m['herd_requests_total{api="/api/chat",model="llama3.2:1b",node="beta",status="completed"}'], 2);
  assert.equal(m['herd_requests_total{api="/v1/chat/completions",model="llama3.2:1b",node="beta",status="completed"}'], 1);
  assert.equal(m['herd_requests_total{api="/api/embed",model="nomic-embed-text:latest",node="alpha",status="completed"}'], 1);
  // What the nodes saw is what the counters say they were sent.
  const chatsOn = async (sim) => (await simRequests(sim.url)).filter((q) => /chat/.test(q.path)).length;
  assert.equal(await chatsOn(sims[0]), 4);
  assert.equal(await chatsOn(sims[1]), 3);
  assert.equal(m['herd_time_to_first_token_seconds_count{model="qwen2.5:7b",node="alpha"}'], 3);
  assert.equal(m['herd_request_duration_seconds_count{model="llama3.2:1b",node="beta"}'], 3);
  assert.equal(m['herd_request_duration_seconds_bucket{model="llama3.2:1b",node="beta",le="+Inf"}'], 3);
  assert.ok(m['herd_request_duration_seconds_sum{model="llama3.2:1b",node="beta"}'] > 0);
  const traces = (await (await fetch(`${herd.url}/dashboard/api/traces?limit=50`, auth)).json());
  const sum = (model, field) => traces.filter((t) => t.model === model).reduce((a, t) => a + (t[field] > 0 ? t[field] : 0), 0);
  assert.equal(m['herd_completion_tokens_total{model="qwen2.5:7b",node="alpha"}'], sum('qwen2.5:7b', 'completion_tokens'));
  assert.equal(m['herd_prompt_tokens_total{model="llama3.2:1b",node="beta"}'], sum('llama3.2:1b', 'prompt_tokens'));
  assert.ok(m['herd_completion_tokens_total{model="llama3.2:1b",node="beta"}'] > 0);
  // Every trace row reached latency.db: none was dropped for a slow disk.
  assert.equal(m.herd_trace_rows_dropped_total, 0);
  // Gauges read at the scrape.
  assert.equal(m['herd_node_up{node="alpha"}'], 1);
  assert.equal(m['herd_node_status{node="beta",status="online"}'], 1);
  assert.equal(m['herd_node_status{node="beta",status="offline"}'], 0);
  assert.equal(m['herd_node_memory_total_bytes{node="alpha"}'], 64e9);
  assert.equal(m['herd_node_cpu_utilization_ratio{node="alpha"}'], 0.25);
  assert.equal(m['herd_in_flight{model="qwen2.5:7b",node="alpha"}'], 0);
  assert.equal(m['herd_queue_depth{model="qwen2.5:7b",node="alpha"}'], 0);
  assert.equal(m['herd_auth_refusals_total'], 1);
  assert.equal(m['herd_requests_active'], 0);
  assert.equal(m['herd_build_info{version="0.1.0"}'], 1);
  // /metrics is a read: it needs a key like the rest.
  assert.equal((await fetch(`${herd.url}/metrics`)).status, 401);
});
