// herd's dashboard: one page per tab, each built from herd's JSON API. Everything shown is
// inserted as text (node and model names come from the network), never as HTML.
'use strict';

const main = document.getElementById('main');
const page = (location.pathname.replace(/\/+$/, '').split('/')[2] || 'fleet').replace('tags', 'apps');

for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);

// el('div', {class: 'x'}, child, 'text', ...) builds an element; strings become text nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

const fmt = (v, digits = 0) => (v === null || v === undefined ? '–' : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits }));
const ms = (v) => (v === null || v === undefined ? '–' : v >= 1000 ? `${fmt(v / 1000, 2)} s` : `${fmt(v)} ms`);
const gb = (v) => (v === null || v === undefined ? '–' : `${fmt(v, 1)} GB`);

// herd may need an API key (reads) or its admin key (changes): asked once, kept for this
// browser session (sessionStorage), and sent as Authorization: Bearer on every call.
const KEY_STORE = 'herd-key';
async function apiFetch(url, init = {}, asked = false) {
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = { ...(init.headers || {}) };
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(url, { ...init, headers });
  if ((r.status === 401 || r.status === 403) && !asked) {
    const body = await r.clone().json().catch(() => ({}));
    const why = body.error?.message || body.error || `HTTP ${r.status}`;
    const entered = window.prompt(`${r.status === 403 ? 'This action needs herd\'s admin key' : 'herd needs an API key'} (${why}).\nKey:`);
    if (entered && entered.trim()) {
      sessionStorage.setItem(KEY_STORE, entered.trim());
      return apiFetch(url, init, true);
    }
  }
  return r;
}

async function getJson(url, init) {
  const r = await apiFetch(url, init);
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && (body.error?.message || body.error)) || `${url}: HTTP ${r.status}`);
  return body;
}

// Replaces the page's content; arrays are flattened and empty entries dropped.
function show(...children) {
  main.replaceChildren(...children.flat(2).filter((c) => c !== null && c !== undefined && c !== false));
}

function showError(where, err) {
  where.replaceChildren(el('p', { class: 'note error' }, `Could not load this page: ${err.message}`));
}

function stat(label, value) {
  return el('div', { class: 'stat' }, el('b', {}, value), el('span', {}, label));
}

function bar(pct, level) {
  const p = Math.max(0, Math.min(100, pct || 0));
  const i = el('i');
  i.style.width = `${p}%`;
  return el('div', { class: `bar ${level || ''}` }, i);
}

function table(headers, rows) {
  return el('div', { class: 'scroll' }, el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { class: h.n ? 'n' : '' }, h.label)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c, i) => el('td', { class: headers[i].n ? 'n' : '' }, c)))))));
}

// One Chart.js chart in a box; charts are remembered so a redraw replaces them.
const charts = new Map();
function chart(id, config) {
  const canvas = el('canvas', { id, role: 'img', 'aria-label': id });
  const box = el('div', { class: 'chart' }, canvas);
  queueMicrotask(() => {
    charts.get(id)?.destroy();
    config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...(config.options || {}) };
    charts.set(id, new Chart(canvas, config));
  });
  return box;
}

function rangeButtons(choices, current, onPick) {
  return el('div', { class: 'controls' }, choices.map(([label, value]) =>
    el('button', { class: value === current ? 'on' : '', 'data-value': value, onclick: () => onPick(value) }, label)));
}

// ---- Fleet: live node cards from /dashboard/events ----

function nodeCard(n) {
  const mem = n.memory || {};
  const memPct = mem.total_gb ? (100 * mem.used_gb) / mem.total_gb : 0;
  const ol = n.ollama || {};
  const up = ol.ollama_up !== false;
  const parts = [
    el('h3', {}, el('span', {}, n.node_id), el('span', { class: `badge ${n.draining ? 'degraded' : n.status}` }, n.draining ? 'draining' : n.status)),
    el('div', { class: 'muted' }, [n.chip, n.ollama_version && `Ollama ${n.ollama_version}`].filter(Boolean).join(' · ') || '\u00a0'),
  ];
  if (n.cpu) parts.push(el('div', {}, `CPU ${fmt(n.cpu.utilization_pct)} %`, el('span', { class: 'muted' }, ` · ${fmt(n.cpu.cores_physical)} cores`)), bar(n.cpu.utilization_pct));
  if (n.memory) {
    parts.push(el('div', {}, `Memory ${gb(mem.used_gb)} of ${gb(mem.total_gb)} `, el('span', { class: `badge ${mem.pressure}` }, mem.pressure || 'unknown')));
    parts.push(bar(memPct, mem.pressure));
  }
  for (const g of n.gpus || []) {
    parts.push(el('div', {}, `${g.name}: VRAM ${gb(g.vram_used_gb)} of ${gb(g.vram_total_gb)}`));
    parts.push(bar(g.vram_total_gb ? (100 * g.vram_used_gb) / g.vram_total_gb : 0));
  }
  if (n.capacity) parts.push(el('div', { class: 'muted' }, `Capacity: ${n.capacity.mode} (${n.capacity.reason}), up to ${gb(n.capacity.ceiling_gb)}`));
  if (!up) parts.push(el('p', { class: 'note error' }, 'Ollama does not answer on this machine'));
  const loaded = ol.models_loaded || [];
  parts.push(el('div', { class: 'muted' }, `${loaded.length} loaded · ${(ol.models_available || []).length} on disk`));
  parts.push(el('div', { class: 'chips' }, loaded.map((m) => el('span', { class: 'chip', title: m.name },
    `${m.name} · ${gb(m.size_gb)}${m.context_length ? ` · ${fmt(m.context_length)} ctx` : ''}`))));
  return el('div', { class: 'card', 'data-node': n.node_id }, parts);
}

function renderFleet(s, updated) {
  const f = s.fleet;
  const queues = Object.entries(s.queues || {});
  const completed = queues.reduce((a, [, q]) => a + q.completed, 0);
  show(
    el('h1', {}, 'Fleet'),
    el('div', { class: 'stats' },
      stat('nodes online', `${f.nodes_online} / ${f.nodes_total}`),
      stat('models loaded', fmt(f.models_loaded)),
      stat('in flight', fmt(f.requests_active)),
      stat('queued', fmt(f.requests_queued)),
      stat('completed', fmt(completed))),
    el('h2', {}, 'Nodes'),
    s.nodes.length ? el('div', { class: 'cards', id: 'nodes' }, s.nodes.map(nodeCard))
      : el('p', { class: 'note' }, 'No node has reported yet. Start herd-node on each machine (it finds herd by mDNS), or point it here with --router-url.'),
    el('h2', {}, 'Queues'),
    queues.length ? table(
      [{ label: 'node : model' }, { label: 'pending', n: 1 }, { label: 'in flight', n: 1 }, { label: 'slots', n: 1 },
        { label: 'completed', n: 1 }, { label: 'failed', n: 1 }, { label: 'avg latency', n: 1 }],
      queues.map(([k, q]) => [k, fmt(q.pending), fmt(q.in_flight), fmt(q.concurrency), fmt(q.completed), fmt(q.failed), ms(q.avg_latency_ms)]))
      : el('p', { class: 'muted' }, 'No request has been routed yet.'),
    el('p', { class: 'muted', id: 'updated' }, `Live · updated ${updated.toLocaleTimeString()}`));
}

// The live stream is read with fetch rather than EventSource, which cannot send a key.
async function fleet() {
  show(el('p', { class: 'muted' }, 'Connecting…'));
  for (;;) {
    try {
      const res = await apiFetch('/dashboard/events');
      if (res.status === 401 || res.status === 403) {
        show(el('p', { class: 'note error' }, 'herd needs an API key to show the fleet. Reload the page to enter one.'));
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const data = buf.slice(0, end).split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          buf = buf.slice(end + 2);
          if (data) renderFleet(JSON.parse(data), new Date());
        }
      }
    } catch { /* reconnect below */ }
    const u = document.getElementById('updated');
    if (u) u.textContent = 'Connection to herd lost; reconnecting…';
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- Trends ----

async function trends(hours = 24) {
  try {
    const t = await getJson(`/dashboard/api/trends?hours=${hours}`);
    const labels = t.buckets.map((b) => {
      const d = new Date(b.hour * 1000);
      return hours > 48 ? d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit' }) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    });
    const total = t.buckets.reduce((a, b) => a + b.requests, 0);
    show(
      el('h1', {}, 'Trends'),
      rangeButtons([['24 h', 24], ['72 h', 72], ['7 days', 168], ['30 days', 720]], hours, trends),
      el('p', { class: 'muted' }, `${fmt(total)} requests in the last ${hours} hours`),
      el('h2', {}, 'Requests per hour'),
      chart('requests', { type: 'bar', data: { labels, datasets: [
        { label: 'completed', data: t.buckets.map((b) => b.completed), backgroundColor: '#2e7d32', stack: 's' },
        { label: 'failed', data: t.buckets.map((b) => b.failed), backgroundColor: '#c62828', stack: 's' },
        { label: 'other', data: t.buckets.map((b) => b.requests - b.completed - b.failed), backgroundColor: '#9aa5b1', stack: 's' }] } }),
      el('h2', {}, 'Latency and time to first token (completed requests)'),
      chart('latency', { type: 'line', data: { labels, datasets: [
        { label: 'avg latency (ms)', data: t.buckets.map((b) => b.avg_latency_ms), borderColor: '#2f5d8a', spanGaps: true },
        { label: 'avg time to first token (ms)', data: t.buckets.map((b) => b.avg_ttft_ms), borderColor: '#b26a00', spanGaps: true }] } }),
      el('h2', {}, 'Tokens per hour'),
      chart('tokens', { type: 'bar', data: { labels, datasets: [
        { label: 'prompt', data: t.buckets.map((b) => b.prompt_tokens), backgroundColor: '#8fb3d9' },
        { label: 'completion', data: t.buckets.map((b) => b.completion_tokens), backgroundColor: '#2f5d8a' }] } }));
  } catch (e) {
    showError(main, e);
  }
}

// ---- Models ----

async function models(days = 7) {
  try {
    const m = await getJson(`/dashboard/api/models?days=${days}`);
    const rows = [];
    for (const x of m.models) {
      rows.push([el('b', {}, x.model), '', fmt(x.requests), fmt(x.failed), ms(x.avg_latency_ms), ms(x.min_latency_ms), ms(x.max_latency_ms), ms(x.avg_ttft_ms), fmt(x.tokens_per_s, 1)]);
      for (const n of x.nodes) rows.push(['', n.node_id || '(no node)', fmt(n.requests), fmt(n.failed), ms(n.avg_latency_ms), '', '', ms(n.avg_ttft_ms), fmt(n.tokens_per_s, 1)]);
    }
    show(
      el('h1', {}, 'Model insights'),
      rangeButtons([['1 day', 1], ['7 days', 7], ['30 days', 30]], days, models),
      m.models.length ? [
        chart('model-requests', { type: 'bar', data: { labels: m.models.map((x) => x.model), datasets: [
          { label: 'requests', data: m.models.map((x) => x.requests), backgroundColor: '#2f5d8a' }] }, options: { indexAxis: 'y' } }),
        table([{ label: 'model' }, { label: 'node' }, { label: 'requests', n: 1 }, { label: 'failed', n: 1 }, { label: 'avg latency', n: 1 },
          { label: 'min', n: 1 }, { label: 'max', n: 1 }, { label: 'first token', n: 1 }, { label: 'tokens/s', n: 1 }], rows)]
        : el('p', { class: 'note' }, `No requests in the last ${days} days.`));
  } catch (e) {
    showError(main, e);
  }
}

// ---- Apps (tags) ----

async function apps(days = 7) {
  try {
    const t = await getJson(`/dashboard/api/tags?days=${days}`);
    const dayList = [...new Set(t.tags.flatMap((x) => x.daily.map((d) => d.day)))].sort();
    const colors = ['#2f5d8a', '#b26a00', '#2e7d32', '#7b1fa2', '#c62828', '#00838f'];
    show(
      el('h1', {}, 'Apps'),
      el('p', { class: 'muted' }, 'Requests are tagged by metadata.tags in the body, the X-Herd-Tags header, or the OpenAI user field.'),
      rangeButtons([['1 day', 1], ['7 days', 7], ['30 days', 30]], days, apps),
      t.tags.length ? [
        chart('tags-daily', { type: 'bar', data: { labels: dayList, datasets: t.tags.slice(0, 6).map((x, i) => ({
          label: x.tag, backgroundColor: colors[i], data: dayList.map((d) => x.daily.find((y) => y.day === d)?.requests || 0) })) } }),
        table([{ label: 'tag' }, { label: 'requests', n: 1 }, { label: 'failed', n: 1 }, { label: 'avg latency', n: 1 },
          { label: 'first token', n: 1 }, { label: 'prompt tokens', n: 1 }, { label: 'completion tokens', n: 1 }],
        t.tags.map((x) => [x.tag, fmt(x.requests), fmt(x.failed), ms(x.avg_latency_ms), ms(x.avg_ttft_ms), fmt(x.prompt_tokens), fmt(x.completion_tokens)]))]
        : el('p', { class: 'note' }, `No tagged requests in the last ${days} days.`),
      el('p', { class: 'muted' }, `${fmt(t.untagged)} ${t.untagged === 1 ? 'request' : 'requests'} without a tag.`));
  } catch (e) {
    showError(main, e);
  }
}

// ---- Health ----

async function health() {
  try {
    const h = await getJson('/dashboard/api/health');
    const v = h.vitals;
    const sevOrder = { critical: 0, warning: 1, notice: 2 };
    const checks = [...h.checks].sort((a, b) => sevOrder[a.severity] - sevOrder[b.severity]);
    show(
      el('h1', {}, 'Health'),
      el('div', { class: 'stats' },
        el('div', { class: 'stat', id: 'score' }, el('b', {}, `${h.score} / 100`), el('span', { class: `badge ${h.status === 'healthy' ? 'online' : h.status === 'warning' ? 'degraded' : 'offline'}` }, h.status)),
        stat('nodes online', `${v.nodes_online} / ${v.nodes_total}`),
        stat('requests, last hour', fmt(v.requests_last_hour)),
        stat('failed', `${fmt(100 * v.error_rate, 1)} %`),
        stat('retries per request', fmt(v.retry_rate, 2))),
      el('h2', {}, checks.length ? `${checks.length} ${checks.length === 1 ? 'thing needs' : 'things need'} attention` : 'Nothing needs attention'),
      el('div', { class: 'cards' }, checks.map((c) => el('div', { class: 'card', 'data-check': c.check_id },
        el('h3', {}, el('span', {}, c.title), el('span', { class: `badge ${c.severity === 'critical' ? 'offline' : c.severity === 'warning' ? 'degraded' : ''}` }, c.severity)),
        el('p', {}, c.description),
        el('p', {}, el('b', {}, 'Fix: '), c.fix)))),
      el('p', { class: 'muted' }, `Checked ${new Date(h.checked_at * 1000).toLocaleTimeString()}; traffic figures cover the last hour.`));
  } catch (e) {
    showError(main, e);
  }
}

// ---- Benchmarks ----

const pctRow = (x) => [ms(x.latency_p50_ms), ms(x.latency_p95_ms), ms(x.latency_p99_ms), ms(x.ttft_p50_ms), ms(x.ttft_p95_ms), ms(x.ttft_p99_ms)];
let benchTimer = null;

function benchResult(run) {
  if (!run) return null;
  const nodes = run.per_node_results || [];
  const modelsRun = run.per_model_results || [];
  return el('section', { id: 'bench-result' },
    el('h2', {}, `Run ${run.run_id}`),
    el('p', { class: 'muted' }, `${new Date(run.timestamp * 1000).toLocaleString()} · ${run.status} · ${fmt(run.duration_s, 1)} s · `,
      `${fmt(run.config?.concurrency)} at a time · ${(run.config?.models || []).join(', ')}`),
    el('div', { class: 'stats' },
      stat('requests', fmt(run.total_requests)), stat('failed', fmt(run.total_failures)),
      stat('requests/s', fmt(run.requests_per_sec, 2)), stat('tokens/s', fmt(run.tokens_per_sec, 1)),
      stat('latency p50', ms(run.latency_p50_ms)), stat('first token p50', ms(run.ttft_p50_ms))),
    el('div', { class: 'cards' },
      chart('bench-percentiles', { type: 'bar', data: { labels: ['p50', 'p95', 'p99'], datasets: [
        { label: 'latency (ms)', backgroundColor: '#2f5d8a', data: [run.latency_p50_ms, run.latency_p95_ms, run.latency_p99_ms] },
        { label: 'first token (ms)', backgroundColor: '#b26a00', data: [run.ttft_p50_ms, run.ttft_p95_ms, run.ttft_p99_ms] }] } }),
      chart('bench-nodes', { type: 'doughnut', data: { labels: nodes.map((n) => n.node_id), datasets: [
        { label: 'share of requests', data: nodes.map((n) => n.requests), backgroundColor: ['#2f5d8a', '#b26a00', '#2e7d32', '#7b1fa2', '#c62828', '#00838f'] }] } })),
    table([{ label: 'node' }, { label: 'requests', n: 1 }, { label: 'failed', n: 1 }, { label: 'share', n: 1 }, { label: 'tokens/s', n: 1 },
      { label: 'latency p50', n: 1 }, { label: 'first token p50', n: 1 }, { label: 'peak in flight', n: 1 }],
    nodes.map((n) => [n.node_id, fmt(n.requests), fmt(n.failures), `${fmt(100 * n.share, 1)} %`, fmt(n.tokens_per_sec, 1), ms(n.latency_p50_ms), ms(n.ttft_p50_ms),
      run.peak_utilization?.[n.node_id] ? `${run.peak_utilization[n.node_id].peak_in_flight} / ${run.peak_utilization[n.node_id].slots}` : '–'])),
    el('h2', {}, 'By model'),
    table([{ label: 'model' }, { label: 'requests', n: 1 }, { label: 'failed', n: 1 }, { label: 'requests/s', n: 1 }, { label: 'tokens/s', n: 1 },
      { label: 'latency p50', n: 1 }, { label: 'p95', n: 1 }, { label: 'first token p50', n: 1 }, { label: 'p95', n: 1 }],
    modelsRun.map((m) => [m.model, fmt(m.requests), fmt(m.failures), fmt(m.requests_per_sec, 2), fmt(m.tokens_per_sec, 1),
      ms(m.latency_p50_ms), ms(m.latency_p95_ms), ms(m.ttft_p50_ms), ms(m.ttft_p95_ms)])));
}

async function benchmarks(selected, message) {
  clearTimeout(benchTimer);
  try {
    const [list, p, inv] = await Promise.all([getJson('/dashboard/api/benchmarks'), getJson('/dashboard/api/benchmarks/progress'),
      getJson('/dashboard/api/model-management')]);
    const loaded = new Set(inv.nodes.flatMap((n) => n.models.filter((m) => m.loaded).map((m) => m.model)));
    const all = [...new Set(inv.nodes.flatMap((n) => n.models.map((m) => m.model)))].sort();
    const runId = selected || list.runs[0]?.run_id;
    const run = runId ? await getJson(`/dashboard/api/benchmarks/${encodeURIComponent(runId)}`).catch(() => null) : null;
    const start = async () => {
      const models = [...document.querySelectorAll('#bench-models input:checked')].map((i) => i.value);
      const body = { duration: Number(document.getElementById('bench-duration').value), concurrency: Number(document.getElementById('bench-concurrency').value),
        max_tokens: Number(document.getElementById('bench-tokens').value) };
      if (models.length) body.models = models;
      try {
        await getJson('/dashboard/api/benchmarks/start', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        benchmarks();
      } catch (e) {
        benchmarks(selected, `Not started: ${e.message}`);
      }
    };
    const cancel = async () => {
      const r = await getJson('/dashboard/api/benchmarks/cancel', { method: 'POST' }).catch((e) => ({ error: e.message }));
      benchmarks(r.run_id, r.error ? `Not cancelled: ${r.error}` : null);
    };
    show(
      el('h1', {}, 'Benchmarks'),
      el('p', { class: 'muted' }, 'A run sends streamed chat requests through herd, the way clients do, from a number of concurrent slots. Its traffic is tagged herd-benchmark.'),
      message ? el('p', { class: 'note', id: 'message' }, message) : null,
      p.running ? el('div', { class: 'card', id: 'bench-progress' },
        el('h3', {}, el('span', {}, `Running ${p.run_id}`), el('button', { id: 'bench-cancel', onclick: cancel }, 'Cancel')),
        bar(100 * p.progress),
        el('div', { class: 'stats' }, stat('elapsed', `${fmt(p.elapsed_s)} / ${fmt(p.duration_s)} s`), stat('requests', fmt(p.total_requests)),
          stat('failed', fmt(p.total_failures)), stat('requests/s', fmt(p.requests_per_sec, 2)), stat('tokens/s', fmt(p.tokens_per_sec, 1)),
          stat('latency p50', ms(p.latency_p50_ms)), stat('first token p50', ms(p.ttft_p50_ms))))
        : el('div', { class: 'card toggles', id: 'bench-form' },
          el('label', {}, 'Duration (seconds)', el('input', { type: 'number', id: 'bench-duration', min: 5, max: 3600, value: 60 })),
          el('label', {}, 'Requests at a time', el('input', { type: 'number', id: 'bench-concurrency', min: 1, max: 64, value: 4 })),
          el('label', {}, 'Tokens per reply (at most)', el('input', { type: 'number', id: 'bench-tokens', min: 1, max: 4096, value: 128 })),
          el('div', { id: 'bench-models', class: 'chips' }, all.length ? all.map((m) => el('label', { class: 'chip' },
            el('input', { type: 'checkbox', value: m, checked: loaded.has(m) }), m)) : el('span', { class: 'muted' }, 'No node reports a model yet.')),
          el('div', {}, el('button', { id: 'bench-start', class: 'on', onclick: start }, 'Start'))),
      benchResult(run),
      el('h2', {}, 'History'),
      list.runs.length ? table([{ label: 'run' }, { label: 'when' }, { label: 'status' }, { label: 's', n: 1 }, { label: 'requests', n: 1 }, { label: 'failed', n: 1 },
        { label: 'req/s', n: 1 }, { label: 'tok/s', n: 1 }, { label: 'latency p50', n: 1 }, { label: 'p95', n: 1 }, { label: 'p99', n: 1 },
        { label: 'first token p50', n: 1 }, { label: 'p95', n: 1 }, { label: 'p99', n: 1 }],
      list.runs.map((x) => [el('a', { href: '#', onclick: (e) => { e.preventDefault(); benchmarks(x.run_id); } }, x.run_id),
        new Date(x.timestamp * 1000).toLocaleString(), x.status || 'completed', fmt(x.duration_s), fmt(x.total_requests), fmt(x.total_failures),
        fmt(x.requests_per_sec, 2), fmt(x.tokens_per_sec, 1), ...pctRow(x)]))
        : el('p', { class: 'note' }, 'No benchmark has run yet.'));
    if (p.running) benchTimer = setTimeout(() => benchmarks(selected), 1000);
  } catch (e) {
    showError(main, e);
  }
}

// ---- Recommendations and model management ----

const ago = (t) => {
  if (!t) return 'never';
  const s = Date.now() / 1000 - t;
  return s < 90 ? 'just now' : s < 5400 ? `${fmt(s / 60)} min ago` : s < 129600 ? `${fmt(s / 3600)} h ago` : `${fmt(s / 86400)} days ago`;
};
let recTimer = null;

// Pulls a model onto a node, showing the node's progress in `where`.
async function pullModel(model, nodeId, where) {
  where.replaceChildren(el('span', { class: 'muted' }, `pulling ${model}…`));
  try {
    const res = await apiFetch('/dashboard/api/pull', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, node_id: nodeId }) });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error || `HTTP ${res.status}`);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let last = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines.filter((x) => x.trim())) {
        last = JSON.parse(l);
        const pct = last.total ? ` ${fmt(100 * (last.completed || 0) / last.total)} %` : '';
        where.replaceChildren(el('span', { class: 'muted' }, `${last.status || last.error}${pct}`));
      }
    }
    if (last.error) throw new Error(last.error);
    where.replaceChildren(el('span', { class: 'badge online' }, 'pulled'));
  } catch (e) {
    where.replaceChildren(el('span', { class: 'badge offline', title: e.message }, 'failed'), ' ', e.message);
  }
}

// busy names why the model is in use (loaded, serving), or is empty: the user is told before
// anything is sent, and a model in use is deleted with force.
async function deleteModel(model, nodeId, busy) {
  const question = busy
    ? `${model} is ${busy} on ${nodeId}. Delete it anyway? Requests using it may fail, and its files are removed from the node's disk.`
    : `Delete ${model} from ${nodeId}? Its files are removed from the node's disk.`;
  if (!confirm(question)) return;
  const r = await apiFetch('/dashboard/api/delete', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, node_id: nodeId, force: Boolean(busy) }) });
  const body = await r.json().catch(() => ({}));
  recommendations(r.ok ? `Deleted ${model} from ${nodeId}.` : `Not deleted: ${body.error || r.status}`);
}

async function recommendations(message) {
  clearTimeout(recTimer);
  try {
    const [rec, inv] = await Promise.all([getJson('/dashboard/api/recommendations'), getJson('/dashboard/api/model-management')]);
    const statusBadge = { ok: 'online', add_copies: 'degraded', missing: 'degraded', no_room: 'offline', too_big: 'offline' };
    const pullButton = (model, nodeId) => {
      const where = el('span', { class: 'pull-state' });
      return el('span', {}, el('button', { 'data-pull': `${nodeId}/${model}`, onclick: (e) => { e.target.disabled = true; pullModel(model, nodeId, where); } }, 'Pull'), ' ', where);
    };
    const inUse = (m) => [m.loaded && 'loaded', m.in_flight + m.queued > 0 && 'serving requests'].filter(Boolean).join(' and ');
    const delButton = (model, nodeId, m) => el('button', { 'data-delete': `${nodeId}/${model}`, onclick: () => deleteModel(model, nodeId, m ? inUse(m) : '') }, 'Delete');
    show(
      el('h1', {}, 'Recommendations'),
      message ? el('p', { class: 'note', id: 'message' }, message) : null,
      el('p', { class: 'muted' }, `From the last ${rec.window_days} days of requests. A node offers its memory minus ${6} GB for its own use (or its capacity ceiling); busy models should be on several nodes.`),
      el('div', { class: 'stats' }, stat('pulls suggested', fmt(rec.summary.pulls)), stat('models unused for 30 days', fmt(rec.summary.removals)),
        stat('disk they take', gb(rec.summary.reclaimable_gb))),
      el('h2', {}, 'Demand'),
      rec.models.length ? table([{ label: 'model' }, { label: 'size', n: 1 }, { label: 'requests (7 d)', n: 1 }, { label: '24 h', n: 1 }, { label: 'unserved', n: 1 },
        { label: 'on nodes', n: 1 }, { label: 'status' }, { label: 'note' }],
      rec.models.map((m) => [el('b', {}, m.model), `${gb(m.size_gb)}${m.size_known ? '' : ' (est.)'}`, fmt(m.requests_7d), fmt(m.requests_24h), fmt(m.unserved_7d),
        `${m.nodes_with_it} / ${m.target_nodes}`, el('span', { class: `badge ${statusBadge[m.status] || ''}` }, m.status.replace('_', ' ')), m.note]))
        : el('p', { class: 'note' }, 'No requests in the last week: nothing to recommend yet.'),
      el('h2', {}, 'By node'),
      el('div', { class: 'cards' }, rec.nodes.map((n) => el('div', { class: 'card', 'data-node': n.node_id },
        el('h3', {}, el('span', {}, n.node_id), el('span', { class: `badge ${n.usable ? 'online' : 'offline'}` }, n.usable ? 'usable' : 'not taking work')),
        el('p', { class: 'muted' }, `offers ${gb(n.offers_gb)} of ${gb(n.memory_gb)}; planned ${gb(n.planned_gb)}`),
        n.keep.length ? el('p', {}, el('b', {}, 'Keep: '), n.keep.map((k) => k.model).join(', ')) : null,
        n.pull.map((p) => el('div', { class: 'rec' }, el('b', {}, `Pull ${p.model}`), ` (${gb(p.size_gb)}): ${p.reason} `, pullButton(p.model, n.node_id))),
        n.remove.map((r) => el('div', { class: 'rec' }, el('b', {}, `Remove ${r.model}`), ` (${gb(r.size_gb)}): ${r.reason}; last used ${ago(r.last_used)} `, delButton(r.model, n.node_id))),
        !n.pull.length && !n.remove.length ? el('p', { class: 'muted' }, 'Nothing to change.') : null))),
      el('h2', {}, 'Models on the nodes'),
      inv.pulls.length ? el('div', { class: 'card', id: 'pulls' }, el('h3', {}, 'Pulls under way'), inv.pulls.map((p) =>
        el('div', {}, `${p.model} → ${p.node_id} (${p.origin}): ${p.status}${p.total ? ` ${fmt(100 * p.completed / p.total)} %` : ''}`, bar(p.total ? 100 * p.completed / p.total : 0)))) : null,
      table([{ label: 'node' }, { label: 'model' }, { label: 'size', n: 1 }, { label: 'state' }, { label: 'in flight', n: 1 }, { label: 'requests (30 d)', n: 1 },
        { label: 'last used' }, { label: '' }],
      inv.nodes.flatMap((n) => n.models.map((m) => [n.node_id, m.model, gb(m.size_gb),
        m.pulling ? 'pulling' : m.loaded ? `loaded${m.context_length ? `, ${fmt(m.context_length)} ctx` : ''}` : 'on disk',
        fmt(m.in_flight + m.queued), fmt(m.requests_30d), ago(m.last_used), m.pulling ? '' : delButton(m.model, n.node_id, m)]))),
      el('p', { class: 'muted' }, `${fmt(inv.totals.models)} models, ${gb(inv.totals.size_gb)} on ${fmt(inv.totals.nodes)} nodes. Pull any model onto a node:`),
      el('div', { class: 'controls', id: 'pull-form' },
        el('input', { id: 'pull-model', placeholder: 'model, e.g. qwen2.5:7b', 'aria-label': 'model to pull' }),
        el('select', { id: 'pull-node', 'aria-label': 'node' }, inv.nodes.map((n) => el('option', { value: n.node_id }, n.node_id))),
        (() => {
          const where = el('span', { class: 'pull-state' });
          return [el('button', { id: 'pull-go', onclick: () => pullModel(document.getElementById('pull-model').value.trim(), document.getElementById('pull-node').value, where) }, 'Pull'), where];
        })()));
    if (inv.pulls.length) recTimer = setTimeout(() => recommendations(message), 2000);
  } catch (e) {
    showError(main, e);
  }
}

// ---- Settings ----

async function settings(message) {
  try {
    const s = await getJson('/dashboard/api/settings');
    const rt = s.runtime;
    const change = async (patch) => {
      try {
        const r = await getJson('/dashboard/api/settings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
        settings(r.saved ? 'Saved: in effect now and after a restart.' : 'In effect now, but could not be saved (see herd\'s log).');
      } catch (e) {
        settings(`Not changed: ${e.message}`);
      }
    };
    const toggle = (key, label) => el('label', {}, el('input', { type: 'checkbox', id: key, checked: rt[key], onchange: (e) => change({ [key]: e.target.checked }) }), label);
    show(
      el('h1', {}, 'Settings'),
      message ? el('p', { class: 'note', id: 'message' }, message) : null,
      el('h2', {}, 'Routing (take effect at once)'),
      el('div', { class: 'card toggles' },
        toggle('auto_pull', 'Auto-pull: a model no node has is pulled onto the node with the most free memory'),
        toggle('vram_fallback', 'VRAM fallback: a loaded model of the same kind may answer instead of a cold load'),
        el('label', {}, 'Context protection',
          el('select', { id: 'context_protection', onchange: (e) => change({ context_protection: e.target.value }) },
            ['strip', 'warn', 'passthrough'].map((v) => el('option', { value: v, selected: v === rt.context_protection }, v)))),
        el('label', {}, 'Retries on other nodes',
          el('input', { type: 'number', id: 'max_retries', min: 0, max: 10, value: rt.max_retries, onchange: (e) => change({ max_retries: Number(e.target.value) }) }))),
      el('h2', {}, 'Machines without herd-node'),
      el('p', { class: 'muted' }, 'Ollamas that herd polls itself (a Mac, a Windows PC): one [NAME=]URL per line, e.g. mac-studio=http://mac-studio.local:11434. Their Ollama must listen on the network.'),
      el('div', { class: 'card' },
        el('textarea', { id: 'ollama', rows: 3, cols: 60, 'aria-label': 'Ollamas herd polls' }, (rt.ollama || []).join('\n')),
        el('div', { class: 'controls' },
          el('button', { id: 'ollama-save', onclick: () => change({ ollama: document.getElementById('ollama').value.split('\n').map((l) => l.trim()).filter(Boolean) }) }, 'Save'))),
      el('h2', {}, 'Configuration'),
      el('p', { class: 'muted' }, 'Set by flags, environment variables or the env file when herd starts (see docs/configuration.md).'),
      table([{ label: 'setting' }, { label: 'value' }, { label: 'from' }, { label: 'default' }, { label: 'meaning' }],
        s.config.map((o) => [o.name, Array.isArray(o.value) ? o.value.join(', ') : String(o.value ?? ''), o.source, o.default ?? '', o.help])));
  } catch (e) {
    showError(main, e);
  }
}

const pages = { fleet, trends, models, apps, benchmarks, health, recommendations, settings };
(pages[page] || fleet)();
