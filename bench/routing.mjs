#!/usr/bin/env node
// Routing quality: the same workload, through the same herd binary, under each routing policy
// (FLEET_ROUTING_POLICY), against a simulated heterogeneous fleet: a fast large-memory desktop,
// a GPU box and a laptop, each a herd-sim node with its herd-node agent. The workload mixes
// short chats with a skewed model popularity, long agent sessions that resend a growing
// conversation, embeddings, and bursts, at Poisson arrival rates from light to overload.
// Every run starts from the same cold state; policies take turns within each repetition, in a
// rotated order. Prints figures and writes bench/results/routing.md with SVG plots.
//
// Times are model seconds (the simulator runs --time-scale real seconds per model second), so
// they read like a real fleet's.
//
//   node bench/routing.mjs [--loads 0.5,1,1.5,2] [--seconds 240] [--reps 3]
//                          [--policies herd,signals,round_robin,least_conn,random,reference,cache_aware,llmd]
//                          [--time-scale 0.04] [--seed 1] [--set FLEET_SETTING=VALUE ...]
//   node bench/routing.mjs --smoke     (one light load, 40 model seconds, one repetition)
import { writeFileSync } from 'node:fs';
import { machine, median, percentile, spread, fmt, table, resultsDir, writeReport, lineChart, barChart, writePlot } from './lib/report.mjs';
import { startSim, startHerd, startNode, stopAll, sleep, fleetOnline, simState } from '../tests/integration/lib/programs.mjs';

const ALL_POLICIES = ['herd', 'signals', 'round_robin', 'least_conn', 'random', 'reference', 'cache_aware', 'llmd'];
const o = { loads: [0.5, 1, 1.5, 2], seconds: 240, reps: 3, policies: ALL_POLICIES, scale: 0.04, seed: 1, smoke: false, env: {} };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--smoke') Object.assign(o, { loads: [0.5], seconds: 40, reps: 1, smoke: true });
  else if (a === '--loads') o.loads = argv[++i].split(',').map(Number);
  else if (a === '--seconds') o.seconds = Number(argv[++i]);
  else if (a === '--reps') o.reps = Number(argv[++i]);
  else if (a === '--policies') o.policies = argv[++i].split(',');
  else if (a === '--time-scale') o.scale = Number(argv[++i]);
  else if (a === '--seed') o.seed = Number(argv[++i]);
  else if (a === '--set' && /^FLEET_\w+=/.test(argv[i + 1] || '')) {
    const [k, ...v] = argv[++i].split('=');
    o.env[k] = v.join('=');
  } else {
    console.error('usage: node bench/routing.mjs [--smoke] [--loads R,R,...] [--seconds S] [--reps N] [--policies P,...] [--time-scale S] [--seed N] [--set FLEET_X=V ...]');
    process.exit(2);
  }
}
if (o.policies.some((p) => !ALL_POLICIES.includes(p))) {
  console.error(`policies are ${ALL_POLICIES.join(', ')}`);
  process.exit(2);
}

// ---- the fleet ----

const FLEET = {
  description: 'routing benchmark fleet',
  defaults: { keep_alive_s: 300, parallel_efficiency: 0.5 },
  nodes: [
    {
      name: 'studio', description: '192 GB unified memory, 800 GB/s', memory_gb: 180, bandwidth_gbps: 800, disk_gbps: 5,
      num_parallel: 4, max_loaded: 4, context_length: 16384,
      models: [
        { name: 'llama3.3:70b', size_gb: 42.5, loaded: true }, { name: 'qwen2.5:32b', size_gb: 20 },
        { name: 'qwen2.5:7b', size_gb: 4.7, loaded: true }, { name: 'llama3.1:8b', size_gb: 4.9 },
        { name: 'nomic-embed-text', size_gb: 0.27 },
      ],
    },
    {
      name: 'gpu-box', description: 'RTX 4090, 24 GB VRAM, 1 TB/s', memory_gb: 22, vram_gb: 24, bandwidth_gbps: 1000, disk_gbps: 3,
      num_parallel: 2, max_loaded: 3, context_length: 16384,
      models: [
        { name: 'qwen2.5:7b', size_gb: 4.7, loaded: true }, { name: 'llama3.1:8b', size_gb: 4.9 },
        { name: 'qwen2.5:32b', size_gb: 20 }, { name: 'nomic-embed-text', size_gb: 0.27, loaded: true },
      ],
    },
    {
      name: 'laptop', description: '16 GB laptop, 100 GB/s', memory_gb: 10, bandwidth_gbps: 100, disk_gbps: 1.5,
      num_parallel: 1, max_loaded: 2, context_length: 16384,
      models: [
        { name: 'qwen2.5:7b', size_gb: 4.7, loaded: true }, { name: 'llama3.1:8b', size_gb: 4.9 },
        { name: 'nomic-embed-text', size_gb: 0.27 },
      ],
    },
  ],
};
const NODE_NAMES = FLEET.nodes.map((n) => n.name);
const SLOTS = Object.fromEntries(FLEET.nodes.map((n) => [n.name, n.num_parallel]));

// ---- the workload: a deterministic schedule from a seed ----

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const WORDS = 'the of and to in is that it for on with as was at by an be this from or have not are but had they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ');
const words = (r, n) => Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
const between = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
function poissonGap(r, rate) {
  return -Math.log(1 - r()) / rate;
}
// Model popularity for short chats: a few models take most requests.
const CHAT_MODELS = [['qwen2.5:7b', 0.55], ['llama3.1:8b', 0.2], ['qwen2.5:32b', 0.15], ['llama3.3:70b', 0.1]];
function pick(r, weighted) {
  let x = r();
  for (const [v, w] of weighted) if ((x -= w) < 0) return v;
  return weighted.at(-1)[0];
}

// Arrivals at rate requests per model second for `seconds`: short chats, embeddings and agent
// sessions (each then runs its turns back to back), plus a burst of short chats every 60 s.
function schedule(seed, rate, seconds) {
  const r = rng(seed);
  const items = [];
  for (let t = poissonGap(r, rate); t < seconds; t += poissonGap(r, rate)) {
    const x = r();
    if (x < 0.6) {
      items.push({ at: t, kind: 'chat', model: pick(r, CHAT_MODELS), prompt: words(r, between(r, 20, 400)), predict: between(r, 40, 250) });
    } else if (x < 0.85) {
      items.push({ at: t, kind: 'embed', inputs: Array.from({ length: between(r, 1, 16) }, () => words(r, between(r, 20, 200))) });
    } else {
      const turns = between(r, 4, 10);
      items.push({
        at: t, kind: 'session', model: r() < 0.6 ? 'qwen2.5:32b' : 'qwen2.5:7b', system: words(r, between(r, 300, 800)),
        turns: Array.from({ length: turns }, () => ({ tool: words(r, between(r, 100, 400)), predict: between(r, 60, 200), think: 0.5 + 2 * r() })),
      });
    }
  }
  for (let t = 30; t < seconds; t += 60) {
    for (let k = 0; k < 12; k++) items.push({ at: t, kind: 'chat', burst: true, model: 'qwen2.5:7b', prompt: words(r, between(r, 20, 100)), predict: between(r, 40, 120) });
  }
  return items.sort((a, b) => a.at - b.at);
}

// ---- one request ----

// Sends a chat (streaming NDJSON) or an embedding; resolves to what the client saw. Times in
// model seconds from the moment it was sent.
async function send(herdUrl, path, body, scale, deadlineMs) {
  const t0 = performance.now();
  const res = { path, model: body.model, ok: false, ttft: NaN, latency: NaN, node: '', busy: 0, tokens: 0, content: '' };
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), Math.max(1, deadlineMs - Date.now()));
  try {
    const r = await fetch(`${herdUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: ctl.signal });
    res.status = r.status;
    res.node = r.headers.get('x-fleet-node') || '';
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of r.body) {
      if (Number.isNaN(res.ttft)) res.ttft = (performance.now() - t0) / 1000 / scale;
      text += decoder.decode(chunk, { stream: true });
    }
    res.latency = (performance.now() - t0) / 1000 / scale;
    if (r.status !== 200) return res;
    if (path === '/api/embed') {
      const j = JSON.parse(text);
      res.ok = Array.isArray(j.embeddings) && j.embeddings.length === body.input.length;
      res.busy = (j.total_duration || 0) / 1e9 - (j.load_duration || 0) / 1e9;
      return res;
    }
    const lines = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    const last = lines.at(-1);
    res.ok = last?.done === true && !lines.some((l) => l.error);
    res.content = lines.map((l) => l.message?.content || '').join('');
    res.tokens = last?.eval_count || 0;
    res.busy = ((last?.prompt_eval_duration || 0) + (last?.eval_duration || 0)) / 1e9;
  } catch {
    res.latency = (performance.now() - t0) / 1000 / scale;
  } finally {
    clearTimeout(timer);
  }
  return res;
}

// Plays the schedule against herd; resolves to every request's result.
async function play(herdUrl, items, scale, deadlineMs) {
  const results = [];
  const start = performance.now();
  const at = (t) => sleep(Math.max(0, start + t * scale * 1000 - performance.now()));
  const chat = (model, messages, predict) => ({ model, messages, stream: true, options: { num_predict: predict } });
  const runs = items.map(async (it) => {
    await at(it.at);
    if (it.kind === 'chat') {
      const r = await send(herdUrl, '/api/chat', chat(it.model, [{ role: 'user', content: it.prompt }], it.predict), scale, deadlineMs);
      results.push({ ...r, kind: it.burst ? 'burst' : 'chat' });
    } else if (it.kind === 'embed') {
      results.push({ ...(await send(herdUrl, '/api/embed', { model: 'nomic-embed-text', input: it.inputs }, scale, deadlineMs)), kind: 'embed' });
    } else {
      // An agent: each turn resends the whole conversation with the tool's output appended.
      const messages = [{ role: 'system', content: it.system }];
      for (const turn of it.turns) {
        if (Date.now() >= deadlineMs) break;
        messages.push({ role: 'user', content: turn.tool });
        const r = await send(herdUrl, '/api/chat', chat(it.model, messages, turn.predict), scale, deadlineMs);
        results.push({ ...r, kind: 'agent' });
        if (!r.ok) break;
        messages.push({ role: 'assistant', content: r.content });
        await sleep(turn.think * scale * 1000);
      }
    }
  });
  await Promise.all(runs);
  return results;
}

// ---- one run: a fresh fleet and herd with one policy ----

async function runOnce(policy, rate, rep) {
  const scale = o.scale;
  const sim = await startSim([], { timeScale: String(scale), profile: FLEET });
  const herd = await startHerd(['--heartbeat-interval', String(Math.max(0.05, 5 * scale)), '--heartbeat-timeout', String(15 * scale * 4),
    '--heartbeat-offline', String(30 * scale * 4), '--hold-timeout', String(Math.max(2, 60 * scale)), '--console-log-level', 'error'],
  { env: { FLEET_ROUTING_POLICY: policy, FLEET_VRAM_FALLBACK: 'false', FLEET_AUTO_PULL: 'false', FLEET_MAX_QUEUE: '10000', ...o.env } });
  // Ollama's nodes report every 5 s; here every 5 model seconds.
  await Promise.all(sim.nodes.map((n) => startNode({ ollama: n.url, router: herd.url, nodeId: n.name, interval: String(Math.max(0.05, 5 * scale)),
    args: ['--metrics', 'herd-sim'] })));
  await fleetOnline(herd.url, NODE_NAMES.length);
  const before = Object.fromEntries(await Promise.all(sim.nodes.map(async (n) => [n.name, (await simState(n.url)).stats])));
  const items = schedule(o.seed * 1000 + rep * 17 + Math.round(rate * 100), rate, o.seconds);
  const t0 = performance.now();
  // Requests still running 60 model seconds after the last arrival are cut off and count as
  // failed: a bound on the run, and a policy that lets work pile up pays for it.
  const deadlineMs = Date.now() + (o.seconds + 60) * scale * 1000;
  const results = await play(herd.url, items, scale, deadlineMs);
  const span = (performance.now() - t0) / 1000 / scale;
  const after = Object.fromEntries(await Promise.all(sim.nodes.map(async (n) => [n.name, (await simState(n.url)).stats])));
  const traces = (await (await fetch(`${herd.url}/dashboard/api/traces?limit=10000`)).json()) || [];
  if (process.env.ROUTING_TRACES) writeFileSync(`${process.env.ROUTING_TRACES}-${policy}-${rate}-${rep}.json`, JSON.stringify(traces));
  await stopAll();
  return { ...summarize(results, span, before, after), predictionError: predictionError(traces, scale, 0),
    predictionErrorSlow: predictionError(traces, scale, 0.25) };
}

// How far herd's predicted time to first token was from the one it saw, over the completed
// chats and agent turns whose observed TTFT is at least atLeast model seconds: the median of
// |predicted - observed| / observed. herd times the first token in real seconds; the
// prediction is in the node's (model) seconds. The harness's own real-time cost (a couple of
// milliseconds of HTTP on loopback) is magnified by 1/time-scale, which weighs on the
// shortest TTFTs only: hence the second figure, over those of 0.25 s or more.
function predictionError(traces, scale, atLeast) {
  const errs = [];
  for (const t of traces) {
    const b = t.scores_breakdown || {};
    if (t.status !== 'completed' || /embed/.test(t.model) || !(b.predicted_ttft_s >= 0) || !(t.time_to_first_token_ms > 0)) continue;
    const observed = t.time_to_first_token_ms / 1000 / scale;
    if (observed < atLeast) continue;
    errs.push(Math.abs(b.predicted_ttft_s - observed) / observed);
  }
  return errs.length ? median(errs) * 100 : NaN;
}

// Goodput: requests that completed with a first token within the SLO (embeddings: answered
// within it), per model minute. The SLO is interactive: 5 s to the first token.
const SLO_TTFT = 5;

function summarize(results, span, before, after) {
  const chats = results.filter((r) => r.kind !== 'embed');
  const good = results.filter((r) => r.ok && r.ttft <= SLO_TTFT);
  const busy = Object.fromEntries(NODE_NAMES.map((n) => [n, 0]));
  const served = Object.fromEntries(NODE_NAMES.map((n) => [n, 0]));
  for (const r of results) {
    if (r.node in busy) {
      busy[r.node] += r.busy;
      served[r.node]++;
    }
  }
  const ttfts = chats.map((r) => (r.ok ? r.ttft : Infinity));
  return {
    requests: results.length,
    failed: results.filter((r) => !r.ok).length,
    ttftP50: percentile(ttfts, 50),
    ttftP99: percentile(ttfts, 99),
    latP99: percentile(chats.map((r) => (r.ok ? r.latency : Infinity)), 99),
    agentTtftP99: percentile(results.filter((r) => r.kind === 'agent').map((r) => (r.ok ? r.ttft : Infinity)), 99),
    agentTtftP50: percentile(results.filter((r) => r.kind === 'agent').map((r) => (r.ok ? r.ttft : Infinity)), 50),
    goodputPct: (100 * good.length) / Math.max(1, results.length),
    goodputPerMin: (good.length / span) * 60,
    coldLoads: NODE_NAMES.reduce((s, n) => s + (after[n].loads - before[n].loads) + (after[n].reloads - before[n].reloads), 0),
    util: Object.fromEntries(NODE_NAMES.map((n) => [n, (100 * busy[n]) / (span * SLOTS[n])])),
    share: Object.fromEntries(NODE_NAMES.map((n) => [n, (100 * served[n]) / Math.max(1, results.length)])),
  };
}

// ---- the runs, interleaved ----

console.log(`routing: ${o.policies.length} policies x ${o.loads.length} loads x ${o.reps} repetitions, ${o.seconds} model s each at time scale ${o.scale}`);
const startedAt = Date.now();
const m = machine();
const runs = {}; // runs[load][policy] = [summary per repetition]
for (let rep = 0; rep < o.reps; rep++) {
  for (const rate of o.loads) {
    runs[rate] ||= {};
    const order = o.policies.map((_, k) => o.policies[(k + rep) % o.policies.length]);
    for (const policy of order) {
      const s = await runOnce(policy, rate, rep);
      (runs[rate][policy] ||= []).push(s);
      console.log(`rep ${rep + 1} load ${rate}/s ${policy.padEnd(11)} requests ${s.requests} failed ${s.failed} ttft p50 ${fmt(s.ttftP50)} p99 ${fmt(s.ttftP99)} s, agent p50 ${fmt(s.agentTtftP50)} s, latency p99 ${fmt(s.latP99)} s, goodput ${fmt(s.goodputPct, 1)}%, cold loads ${s.coldLoads}, busy ${NODE_NAMES.map((n) => fmt(s.util[n], 0)).join('/')}%, prediction error ${fmt(s.predictionError, 0)}% / ${fmt(s.predictionErrorSlow, 0)}%`);
    }
  }
}

// ---- the report ----

const med = (rate, policy, f) => median(runs[rate][policy].map(f));
const lines = [`# Routing quality`, '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${m}. Command: \`node bench/routing.mjs${argv.length ? ` ${argv.join(' ')}` : ''}\` (${((Date.now() - startedAt) / 60000).toFixed(1)} min).`, '',
  `A simulated fleet (herd-sim with one herd-node each): **studio** (180 GB, 800 GB/s, 4 slots), **gpu-box** (22 GB, 1 TB/s, 2 slots), **laptop** (10 GB, 100 GB/s, 1 slot); models qwen2.5:7b, llama3.1:8b, qwen2.5:32b, llama3.3:70b (studio only) and nomic-embed-text. ` +
  `The workload: Poisson arrivals at each load (requests per second): 60% short chats (qwen2.5:7b 55%, llama3.1:8b 20%, qwen2.5:32b 15%, llama3.3:70b 10%), 25% embeddings (1–16 inputs), 15% agent sessions of 4–10 turns that resend a growing conversation; and a burst of 12 chats every 60 s. ` +
  `${o.seconds} s of arrivals per run; requests unfinished 60 s after the last arrival count as failed. Every run starts from the same state; the same schedule is played for every policy; policies take turns in a rotated order within each of ${o.reps} repetition(s). Figures are medians over repetitions; times are model seconds (time scale ${o.scale}).`, '',
  `- **TTFT**: time to first token of chats and agent turns (a failed request counts as infinite). **p99 latency**: whole chat. **goodput**: share of all requests that succeeded with a first token (embeddings: answer) within ${SLO_TTFT} s. **cold loads**: model loads and reloads on the nodes during the run. **busy**: slot-time spent on prompt and generation, per node, as a share of its slots. **TTFT prediction error**: the median of |predicted − observed| / observed time to first token over completed chats and agent turns, herd's cost model as it ran under each policy; over all of them, and over those that took 0.25 s or more (the harness's own couple of real milliseconds per request are magnified by the time scale into tens of model milliseconds, which weighs only on the shortest).`, '',
  `- Policies: **herd** (the lowest predicted time to first token, from speeds learned per node and model; queues bounded by each node's parallel slots), **signals** (the seven-signal score, queues bounded likewise), **round_robin**, **least_conn** (fewest requests on the node), **random**, **reference** (the Python project's scoring and ties, unbounded queues), **cache_aware** (SGLang's router: best prefix match over 30%, else the smallest tree, the least loaded when load is imbalanced), **llmd** (llm-d's default scorers, prefix : queue : KV use = 2 : 2 : 1). All but herd and signals send requests straight to the node.`, ''];
for (const rate of o.loads) {
  lines.push(`## Load ${rate} requests/s`, '');
  const rows = o.policies.map((p) => {
    const g = (f) => med(rate, p, f);
    const rs = runs[rate][p];
    return [p, fmt(g((s) => s.requests), 0), fmt(g((s) => s.failed), 0), fmt(g((s) => s.ttftP50)), fmt(g((s) => s.ttftP99)),
      fmt(g((s) => s.agentTtftP50)), fmt(g((s) => s.agentTtftP99)), fmt(g((s) => s.latP99)), `${fmt(g((s) => s.goodputPct), 1)}%`, fmt(g((s) => s.goodputPerMin), 1),
      fmt(g((s) => s.coldLoads), 0), NODE_NAMES.map((n) => `${fmt(g((s) => s.util[n]), 0)}%`).join(' / '),
      rs.length > 1 ? `${fmt(100 * spread(rs.map((s) => s.ttftP99)), 0)}%` : '–', `${fmt(g((s) => s.predictionError), 0)}% / ${fmt(g((s) => s.predictionErrorSlow), 0)}%`];
  });
  lines.push(table(['policy', 'requests', 'failed', 'TTFT p50 s', 'TTFT p99 s', 'agent TTFT p50 s', 'agent TTFT p99 s', 'latency p99 s', 'goodput', 'goodput /min', 'cold loads', `busy ${NODE_NAMES.join(' / ')}`, 'p99 TTFT spread', 'TTFT prediction error: all / ≥ 0.25 s'], rows), '');
  const others = o.policies.filter((p) => p !== 'herd');
  if (o.policies.includes('herd') && others.length) {
    const h99 = med(rate, 'herd', (s) => s.ttftP99), hg = med(rate, 'herd', (s) => s.goodputPct);
    const best99 = Math.min(...others.map((p) => med(rate, p, (s) => s.ttftP99)));
    const bestG = Math.max(...others.map((p) => med(rate, p, (s) => s.goodputPct)));
    // The target: below overload (herd's p99 finite), a p99 TTFT at least 1.3 times lower than
    // every other policy's; at every load, the highest goodput.
    const bestAgent = Math.min(...others.map((p) => med(rate, p, (s) => s.agentTtftP50)));
    const ha = med(rate, 'herd', (s) => s.agentTtftP50);
    const ttftOk = !Number.isFinite(h99) || best99 / h99 >= 1.3;
    const beats = ttftOk && hg >= bestG;
    lines.push(`herd vs the best other policy: p99 TTFT ${fmt(h99)} s vs ${fmt(best99)} s (${fmt(best99 / h99)}× lower; target 1.3× below overload), goodput ${fmt(hg, 1)}% vs ${fmt(bestG, 1)}%, agent-turn TTFT p50 ${fmt(ha)} s vs ${fmt(bestAgent)} s: ${beats ? '**target met**' : '**target not met**'}.`, '');
  }
}
const dir = resultsDir(o.smoke);
const x = o.loads.map((l) => `${l}/s`);
const series = (f) => o.policies.map((p) => ({ name: p, values: o.loads.map((l) => med(l, p, f)) }));
lines.push('## Plots', '',
  `![p99 TTFT](${writePlot(dir, 'routing-ttft-p99.svg', lineChart({ title: 'p99 time to first token', xLabel: 'load (requests/s)', yLabel: 'seconds (log)', x, logY: true, series: series((s) => (Number.isFinite(s.ttftP99) ? s.ttftP99 : NaN)) }))})`, '',
  `![goodput](${writePlot(dir, 'routing-goodput.svg', lineChart({ title: `goodput (first token within ${SLO_TTFT} s)`, xLabel: 'load (requests/s)', yLabel: '% of requests', x, series: series((s) => s.goodputPct) }))})`, '',
  `![busy](${writePlot(dir, 'routing-busy.svg', barChart({ title: `node busy share at ${o.loads.at(-1)}/s`, yLabel: '% of slot time', groups: NODE_NAMES, series: o.policies.map((p) => ({ name: p, values: NODE_NAMES.map((n) => med(o.loads.at(-1), p, (s) => s.util[n])) })) }))})`, '');
const path = writeReport(dir, 'routing', lines.join('\n'));
console.log(lines.filter((l) => l.startsWith('|') || l.startsWith('##') || l.startsWith('herd vs')).join('\n'));
console.log(`routing: report in ${path}`);
await stopAll();
