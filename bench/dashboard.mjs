#!/usr/bin/env node
// Dashboard API cost: fills a latency.db with N traces spread over 30 days (with the sqlite3
// program), starts herd on it with a simulated fleet, and times each dashboard endpoint
// (median and worst of several calls). Every call runs on herd's event loop, so this is time
// during which herd relays nothing else. Figures only, never assertions on time.
//
//   node bench/dashboard.mjs [--traces 300000] [--repeat 7]
//   node bench/dashboard.mjs --smoke     (20000 traces, 3 calls each)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, stopAll, tempDir } from '../tests/integration/lib/programs.mjs';

const o = { traces: 300000, repeat: 7 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--smoke') Object.assign(o, { traces: 20000, repeat: 3 });
  else if (argv[i] === '--traces') o.traces = Number(argv[++i]);
  else if (argv[i] === '--repeat') o.repeat = Number(argv[++i]);
  else {
    console.error('usage: node bench/dashboard.mjs [--smoke] [--traces N] [--repeat N]');
    process.exit(2);
  }
}

const dataDir = tempDir();
const db = join(dataDir, 'latency.db');
const models = ['qwen2.5:7b', 'llama3.2:3b', 'qwen3:32b', 'nomic-embed-text:latest', 'gemma3:4b', 'mistral:latest'];
const nodeIds = ['studio', 'laptop', 'gpu-box', 'mini'];

// A herd that starts on an empty data directory creates the schema (and the summary trigger);
// the traces are then added with SQL, so the trigger fills the summaries as herd would.
let herd = await startHerd(['--data-dir', dataDir]);
await herd.stop();
const now = Date.now() / 1000;
const t0 = Date.now();
const sql = `
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${o.traces - 1})
INSERT INTO request_traces (request_id, model, original_model, node_id, score, status, latency_ms,
  time_to_first_token_ms, prompt_tokens, completion_tokens, timestamp, tags)
SELECT printf('%032x', i), m, m, node, 80, st, 200 + abs(random() % 5000), 20 + abs(random() % 800),
  abs(random() % 2000), abs(random() % 400), ${now} - abs(random() % ${30 * 86400}),
  CASE i % 3 WHEN 0 THEN '["app-a"]' WHEN 1 THEN '["app-b","nightly"]' ELSE NULL END
FROM (SELECT i, '${JSON.stringify(models)}' ->> (i % ${models.length}) AS m,
  '${JSON.stringify(nodeIds)}' ->> (i % ${nodeIds.length}) AS node,
  CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'completed' END AS st FROM n);`;
const fill = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
if (fill.status !== 0) {
  console.error(fill.stderr);
  process.exit(1);
}
console.log(`latency.db: ${o.traces} traces over 30 days written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const sims = [];
for (const id of nodeIds) sims.push({ name: id, url: (await startSim(['--name', id, '--model', 'qwen2.5:7b=4.7', '--model', 'old:7b=4.1', '--loaded', 'qwen2.5:7b'])).url });
herd = await startHerd(['--data-dir', dataDir]);
const loop = heartbeatLoop(herd, sims);
await loop.ready;

const endpoints = ['overview', 'trends?hours=24', 'trends?hours=720', 'models?days=7', 'models?days=30', 'usage?days=30', 'tags?days=30',
  'health', 'recommendations', 'model-management', 'benchmarks', 'traces?limit=50'];
console.log(`\n${'endpoint'.padEnd(24)} ${'median ms'.padStart(10)} ${'worst ms'.padStart(10)} ${'bytes'.padStart(9)}`);
for (const e of endpoints) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < o.repeat; i++) {
    const s = process.hrtime.bigint();
    const r = await fetch(`${herd.url}/dashboard/api/${e}`);
    const body = await r.text();
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
    if (r.status !== 200) throw new Error(`${e}: HTTP ${r.status} ${body}`);
    bytes = body.length;
  }
  times.sort((a, b) => a - b);
  console.log(`${e.padEnd(24)} ${times[Math.floor(times.length / 2)].toFixed(1).padStart(10)} ${times.at(-1).toFixed(1).padStart(10)} ${String(bytes).padStart(9)}`);
}
await loop.stop();
await stopAll();
