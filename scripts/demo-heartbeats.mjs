// Stands in for herd-node in the demo until it exists: every few seconds, describes each
// simulated node of a profile to herd, from the node's own /api/ps and /api/tags.
// Usage: node scripts/demo-heartbeats.mjs PROFILE HERD_URL [INTERVAL_S]
import { readFileSync } from 'node:fs';

const [profilePath, herdUrl, intervalArg] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
const defaults = profile.defaults || {};
const nodes = profile.nodes.map((n) => ({ ...defaults, ...n }));
const interval = Number(intervalArg || 5) * 1000;

async function describe(n) {
  const url = `http://127.0.0.1:${n.port}`;
  const ps = await (await fetch(`${url}/api/ps`)).json();
  const tags = await (await fetch(`${url}/api/tags`)).json();
  const version = await (await fetch(`${url}/api/version`)).json();
  const used = ps.models.reduce((s, m) => s + m.size / 1e9, 0);
  return {
    node_id: n.name,
    ollama_host: url,
    lan_ip: '127.0.0.1',
    cpu: { cores_physical: 8, utilization_pct: 5 },
    memory: { total_gb: n.memory_gb + 6, used_gb: used + 6, available_gb: Math.max(0, n.memory_gb - used), pressure: 'normal' },
    memory_bandwidth_gbps: n.bandwidth_gbps || 0,
    ollama_version: version.version,
    ollama: {
      models_loaded: ps.models.map((m) => ({ name: m.name, size_gb: m.size / 1e9, context_length: m.context_length })),
      models_available: tags.models.map((m) => ({ name: m.name, size_gb: m.size / 1e9, capabilities: m.capabilities })),
      num_parallel: n.num_parallel || 1,
    },
  };
}

async function beat() {
  for (const n of nodes) {
    try {
      const res = await fetch(`${herdUrl}/heartbeat`, { method: 'POST', body: JSON.stringify(await describe(n)) });
      if (!res.ok) console.error(`heartbeat for ${n.name}: ${res.status} ${await res.text()}`);
    } catch (e) {
      console.error(`heartbeat for ${n.name}: ${e.cause?.code || e.message}`);
    }
  }
}

await beat();
setInterval(beat, interval);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await Promise.all(nodes.map((n) => fetch(`${herdUrl}/heartbeat`, { method: 'POST', body: JSON.stringify({ node_id: n.name, draining: true }) }).catch(() => {})));
    process.exit(0);
  });
}
