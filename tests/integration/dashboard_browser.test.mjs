// The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a live
// herd with a simulated fleet and traffic: each tab shows real data, the fleet page updates by
// itself, a settings toggle changes what herd does, and no console error occurs. A screenshot
// of each tab is saved in BUILD/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSim, startHerd, heartbeatLoop, postJson, eventually, BUILD } from './lib/harness.mjs';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : 'needs Debian\'s chromium (scripts/install-deps.sh installs it)';
const shots = join(BUILD, 'test-artifacts');

let herd;
let simA;
let simB;
let loop;
let browser;
let page;
const problems = []; // console errors and uncaught exceptions, from every page

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
  const a = simA = await startSim(['--name', 'studio', '--model', 'qwen2.5:7b=4.7', '--loaded', 'qwen2.5:7b', '--registry', 'tiny:1b=0.5']);
  simB = await startSim(['--name', 'laptop', '--model', 'qwen2.5:7b=4.7', '--model', 'llama3.2:3b=2.0', '--loaded', 'qwen2.5:7b', '--registry', 'tiny:1b=0.5']);
  herd = await startHerd(['--heartbeat-interval', '0.2']);
  loop = heartbeatLoop(herd, [{ name: 'studio', url: a.url }, { name: 'laptop', url: simB.url }]);
  await loop.ready;
  const chat = (model, tags) => postJson(`${herd.url}/api/chat`, { model, messages: [{ role: 'user', content: 'hello' }], stream: false, metadata: { tags } });
  const replies = await Promise.all([...Array(8)].map((_, i) => chat('qwen2.5:7b', [i % 2 ? 'app-a' : 'app-b'])));
  assert.ok(replies.every((r) => r.status === 200));
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
});

after(async () => {
  await loop?.stop();
  await browser?.close();
});

const text = () => page.locator('main').innerText();
// The sum of a chart's first dataset, read from Chart.js in the page.
const chartSum = (id) => page.evaluate((cid) => Chart.getChart(cid).data.datasets.reduce((s, d) => s + d.data.reduce((a, v) => a + (v || 0), 0), 0), id);

test('fleet: node cards with their models, updated without a reload', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard`);
  await page.locator('.card[data-node="studio"]').waitFor();
  const t = await text();
  for (const s of ['studio', 'laptop', 'qwen2.5:7b', '2 / 2', 'nodes online']) assert.ok(t.includes(s), `${s} in ${t}`);
  assert.match(t, /studio:qwen2\.5:7b|laptop:qwen2\.5:7b/); // the queues table
  // laptop loads another model; the page shows it from the stream, with no navigation.
  const before = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  await postJson(`${simB.url}/api/generate`, { model: 'llama3.2:3b', prompt: 'hi', stream: false });
  await page.locator('.card[data-node="laptop"] .chip', { hasText: 'llama3.2:3b' }).waitFor({ timeout: 10000 });
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), before);
  await page.screenshot({ path: join(shots, 'dashboard-fleet.png'), fullPage: true });
});

test('trends: the hourly charts hold the traffic', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard/trends`);
  await page.locator('canvas#requests').waitFor();
  assert.equal(await chartSum('requests'), 8);
  assert.ok(await chartSum('tokens') > 0);
  await page.getByRole('button', { name: '7 days' }).click();
  await page.locator('button.on', { hasText: '7 days' }).waitFor();
  assert.equal(await page.evaluate(() => Chart.getChart('requests').data.labels.length), 168);
  await page.screenshot({ path: join(shots, 'dashboard-trends.png'), fullPage: true });
});

test('models: per model and node, with a chart', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard/models`);
  await page.locator('table').waitFor();
  const t = await text();
  assert.ok(t.includes('qwen2.5:7b'));
  assert.ok(t.includes('studio') || t.includes('laptop'));
  assert.equal(await chartSum('model-requests'), 8);
  await page.screenshot({ path: join(shots, 'dashboard-models.png'), fullPage: true });
});

test('apps: the tags the requests carried', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard/apps`);
  await page.locator('table').waitFor();
  const t = await text();
  assert.ok(t.includes('app-a') && t.includes('app-b'));
  assert.equal(await chartSum('tags-daily'), 8);
  await page.screenshot({ path: join(shots, 'dashboard-apps.png'), fullPage: true });
});

test('health: the score and the checks with their fixes', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard/health`);
  await page.locator('#score').waitFor();
  assert.match(await page.locator('#score').innerText(), /\d+ \/ 100/);
  assert.ok((await text()).includes('nodes online'));
  await page.screenshot({ path: join(shots, 'dashboard-health.png'), fullPage: true });
});

test('settings: turning auto-pull off changes what herd does, at once', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard/settings`);
  await page.locator('#auto_pull').waitFor();
  assert.ok(await page.locator('#auto_pull').isChecked());
  assert.ok((await text()).includes('heartbeat-interval'));
  await page.locator('#auto_pull').uncheck();
  await page.locator('#message', { hasText: 'Saved' }).waitFor();
  assert.equal(await page.locator('#auto_pull').isChecked(), false);
  const r = await postJson(`${herd.url}/api/chat`, { model: 'tiny:1b', messages: [{ role: 'user', content: 'hi' }], stream: false });
  assert.equal(r.status, 404); // not pulled
  await page.screenshot({ path: join(shots, 'dashboard-settings.png'), fullPage: true });
  await page.locator('#auto_pull').check();
  await page.locator('#message', { hasText: 'Saved' }).waitFor();
});

test('benchmarks: a run started from the page, watched, then its results and history', { skip }, async () => {
  await page.goto(`${herd.url}/dashboard/benchmarks`);
  await page.locator('#bench-start').waitFor();
  assert.ok(await page.locator('#bench-models input[value="qwen2.5:7b"]').isChecked()); // loaded: chosen
  await page.locator('#bench-duration').fill('5');
  await page.locator('#bench-concurrency').fill('2');
  await page.locator('#bench-tokens').fill('16');
  await page.locator('#bench-start').click();
  await page.locator('#bench-progress').waitFor();
  await page.locator('#bench-progress', { hasText: /requests\/s/ }).waitFor();
  await page.screenshot({ path: join(shots, 'dashboard-benchmarks-running.png'), fullPage: true });
  await page.locator('#bench-form').waitFor({ timeout: 15000 }); // the run ended, the page noticed
  await page.locator('canvas#bench-nodes').waitFor();
  const list = (await (await fetch(`${herd.url}/dashboard/api/benchmarks`)).json()).runs;
  assert.equal(list.length, 1);
  assert.equal(list[0].status, 'completed');
  assert.ok(list[0].total_requests > 0);
  // The share chart counts the run's requests; the history lists the run.
  const run = await (await fetch(`${herd.url}/dashboard/api/benchmarks/${list[0].run_id}`)).json();
  assert.equal(await chartSum('bench-nodes'), run.per_node_results.reduce((s, n) => s + n.requests, 0));
  assert.ok(await chartSum('bench-percentiles') > 0);
  assert.ok((await text()).includes(list[0].run_id));
  await page.screenshot({ path: join(shots, 'dashboard-benchmarks.png'), fullPage: true });
});

test('recommendations: one click pulls the missing model; deleting a loaded model says so first', { skip }, async () => {
  // tiny:1b was asked for while auto-pull was off: the page suggests pulling it.
  await page.goto(`${herd.url}/dashboard/recommendations`);
  const pullButton = page.locator('button[data-pull$="/tiny:1b"]');
  await pullButton.waitFor();
  const t = await text();
  for (const s of ['tiny:1b', 'qwen2.5:7b', 'studio', 'laptop', 'no node has it']) assert.ok(t.includes(s), `${s} in ${t}`);
  const target = (await pullButton.getAttribute('data-pull')).split('/')[0];
  await pullButton.click();
  await page.locator('.rec .badge', { hasText: 'pulled' }).waitFor({ timeout: 10000 });
  const simFor = { laptop: simB.url, studio: simA.url };
  const tags = async (url) => (await (await fetch(`${url}/api/tags`)).json()).models.map((m) => m.name);
  assert.ok((await tags(simFor[target])).includes('tiny:1b'));
  await page.screenshot({ path: join(shots, 'dashboard-recommendations.png'), fullPage: true });

  // llama3.2:3b is loaded on laptop: the question says so, and the delete is forced.
  await page.reload();
  const dialogs = [];
  const onDialog = (d) => { dialogs.push(d.message()); d.accept(); };
  page.on('dialog', onDialog);
  await page.locator('button[data-delete="laptop/llama3.2:3b"]').click();
  await page.locator('#message', { hasText: 'Deleted llama3.2:3b from laptop' }).waitFor();
  page.off('dialog', onDialog);
  assert.equal(dialogs.length, 1);
  assert.match(dialogs[0], /llama3.2:3b is loaded on laptop. Delete it anyway/);
  assert.ok(!(await tags(simB.url)).includes('llama3.2:3b'));
  // (A heartbeat read just before the delete may list the model for a moment more.)
  await eventually(async () => {
    const inv = await (await fetch(`${herd.url}/dashboard/api/model-management`)).json();
    return !inv.nodes.find((n) => n.node_id === 'laptop').models.some((m) => m.model === 'llama3.2:3b');
  });
  await page.reload();
  await page.locator('button[data-delete="laptop/qwen2.5:7b"]').waitFor();
  assert.equal(await page.locator('button[data-delete="laptop/llama3.2:3b"]').count(), 0);
});

test('with keys: the page asks once for a key, keeps it for the session, and asks for the admin key for a change', { skip }, async () => {
  const locked = await startHerd(['--api-keys', 'browser:browser-key-0123456789', '--admin-key', 'browser-admin-0123456789']);
  const l = heartbeatLoop(locked, [{ name: 'studio', url: simA.url }]);
  await l.ready;
  const context = await browser.newContext();
  const p = await context.newPage();
  const asked = [];
  const answers = ['browser-key-0123456789', 'browser-admin-0123456789'];
  p.on('dialog', async (d) => { asked.push(d.message()); await d.accept(answers[asked.length - 1] || ''); });
  try {
    await p.goto(`${locked.url}/dashboard`);
    await p.locator('.card[data-node="studio"]').waitFor(); // the live stream, read with the key
    assert.equal(asked.length, 1);
    assert.match(asked[0], /herd needs an API key \(this herd needs an API key/);
    await p.goto(`${locked.url}/dashboard/settings`);
    await p.locator('#auto_pull').waitFor();
    assert.equal(asked.length, 1, 'kept for the session: not asked again');
    await p.locator('#auto_pull').uncheck();
    await p.locator('#message', { hasText: 'Saved' }).waitFor();
    assert.equal(asked.length, 2);
    assert.match(asked[1], /needs herd's admin key \(this action changes the fleet and needs the admin key\)/);
    const s = await (await fetch(`${locked.url}/dashboard/api/settings`, { headers: { authorization: 'Bearer browser-key-0123456789' } })).json();
    assert.equal(s.runtime.auto_pull, false);
    assert.equal(await p.evaluate(() => sessionStorage.getItem('herd-key')), 'browser-admin-0123456789');
    const audit = readFileSync(join(locked.dataDir, 'logs', 'audit.jsonl'), 'utf8');
    assert.match(audit, /"event":"admin_action","who":"admin".*"path":"\/dashboard\/api\/settings".*"outcome":"ok"/);
    await p.screenshot({ path: join(shots, 'dashboard-keys.png'), fullPage: true });
  } finally {
    await context.close();
    await l.stop();
    await locked.stop();
  }
});

test('a phone-width screen needs no sideways scrolling; no console error on any page', { skip }, async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const p of ['', 'trends', 'apps', 'benchmarks', 'health', 'recommendations']) {
    await page.goto(`${herd.url}/dashboard/${p}`);
    await page.locator('main h1').waitFor();
    await page.waitForTimeout(300);
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scroll <= width + 1, `/dashboard/${p} is ${scroll} px wide on a ${width} px screen`);
  }
  await page.screenshot({ path: join(shots, 'dashboard-phone.png'), fullPage: true });
  assert.deepEqual(problems, []);
});
