// What the benchmarks share: statistics, markdown tables, SVG plots with no dependency, the
// machine's description, process CPU and memory from /proc, and where reports are written.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { SOURCE } from '../../tests/integration/lib/programs.mjs';

// Percentile p (0..100) of numbers, nearest rank; NaN for none.
export function percentile(values, p) {
  if (!values.length) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length - 1, Math.max(0, rank - 1))];
}

export const median = (values) => percentile(values, 50);

// The spread of repetitions as a fraction of their median: (max - min) / median; NaN when a
// value is not finite (a failed run's infinite p99).
export function spread(values) {
  if (!values.every(Number.isFinite)) return NaN;
  const m = median(values);
  return m ? (Math.max(...values) - Math.min(...values)) / m : NaN;
}

export function fmt(x, digits = 2) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return '∞';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(Math.max(0, digits - 2));
  if (a >= 10) return x.toFixed(Math.max(0, digits - 1));
  return x.toFixed(digits);
}

// A markdown table from a header row and rows of cells.
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

// The machine a report was measured on, and how loaded it was when the run began.
export function machine() {
  const c = cpus();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return `${c.length} × ${c[0]?.model?.trim() || 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux; load average at start ${load}`;
}

// CPU seconds (user + system) a process and its threads have used so far.
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

// Resident memory of a process in MiB (VmRSS), NaN when it is gone.
export function rssMiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// Peak resident memory of a process in MiB (VmHWM).
export function peakRssMiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// Runs wrk with args; resolves to the JSON line its Lua script's done() printed. Runs for
// about seconds, and is killed 60 s after that.
export function wrk(args, seconds) {
  const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (seconds + 60) * 1000, maxBuffer: 1 << 20 });
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  return JSON.parse(line);
}

// Where a benchmark writes: bench/results/, or bench/results/smoke/ for a smoke run (so a smoke
// run never overwrites a measured report).
export function resultsDir(smoke) {
  const d = join(SOURCE, 'bench', 'results', ...(smoke ? ['smoke'] : []));
  mkdirSync(d, { recursive: true });
  return d;
}

export function writeReport(dir, name, markdown) {
  const path = join(dir, `${name}.md`);
  writeFileSync(path, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  return path;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// A line chart as SVG: x values (categories, evenly spaced), and series {name, values} (NaN
// leaves a gap). logY plots on a log scale.
export function lineChart({ title, xLabel, yLabel, x, series, logY = false }) {
  const W = 640, H = 360, L = 70, R = 150, T = 40, B = 50;
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && (!logY || v > 0));
  let lo = logY ? Math.min(...all) : 0;
  let hi = Math.max(...all, 0);
  if (logY) {
    lo = 10 ** Math.floor(Math.log10(lo || 1));
    hi = 10 ** Math.ceil(Math.log10(hi || 10));
    if (hi <= lo) hi = lo * 10;
  } else {
    hi = niceMax(hi);
  }
  const px = (i) => L + (x.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (x.length - 1));
  const py = (v) => (logY ? T + (H - T - B) * (1 - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)))
    : T + (H - T - B) * (1 - v / hi));
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`];
  const ticks = logY ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, k) => lo * 10 ** k)
    : [0, 0.25, 0.5, 0.75, 1].map((f) => f * hi);
  for (const t of ticks) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${py(t) + 4}" text-anchor="end">${esc(fmt(t))}</text>`);
  }
  x.forEach((v, i) => out.push(`<text x="${px(i)}" y="${H - B + 18}" text-anchor="middle">${esc(v)}</text>`));
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    let d = '';
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v) || (logY && v <= 0)) return;
      d += `${d ? 'L' : 'M'}${px(i).toFixed(1)},${py(v).toFixed(1)}`;
      out.push(`<circle cx="${px(i).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="${color}"/>`);
    });
    if (d) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    out.push(`<rect x="${W - R + 12}" y="${T + k * 18}" width="12" height="12" fill="${color}"/>`,
      `<text x="${W - R + 30}" y="${T + k * 18 + 10}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

// A grouped bar chart as SVG: groups (categories), and series {name, values} one per group.
export function barChart({ title, yLabel, groups, series }) {
  const W = 640, H = 360, L = 70, R = 150, T = 40, B = 50;
  const hi = niceMax(Math.max(...series.flatMap((s) => s.values).filter(Number.isFinite), 0));
  const gw = (W - L - R) / groups.length;
  const bw = (gw * 0.8) / series.length;
  const py = (v) => T + (H - T - B) * (1 - v / hi);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`];
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${py(f * hi)}" y2="${py(f * hi)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${py(f * hi) + 4}" text-anchor="end">${esc(fmt(f * hi))}</text>`);
  }
  groups.forEach((g, i) => out.push(`<text x="${L + gw * i + gw / 2}" y="${H - B + 18}" text-anchor="middle">${esc(g)}</text>`));
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = L + gw * i + gw * 0.1 + bw * k;
      out.push(`<rect x="${x.toFixed(1)}" y="${py(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(H - B - py(v)).toFixed(1)}" fill="${color}"/>`);
    });
    out.push(`<rect x="${W - R + 12}" y="${T + k * 18}" width="12" height="12" fill="${color}"/>`,
      `<text x="${W - R + 30}" y="${T + k * 18 + 10}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

export function writePlot(dir, file, svg) {
  writeFileSync(join(dir, file), `${svg}\n`);
  return file;
}
