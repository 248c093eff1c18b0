// Posting an inspection → its risk visible in the browser (p50, p99), on a release build
// (run from end2end/: `node bench/quality.mjs`).
// Starts `cellguard serve` (embedded simulated line, simulated stations off) on a free
// port, gives each cell its IPQC and FQC (scored), opens the cell's page at tablet
// size, then posts its OQC and measures until the page shows the OQC inspection and the
// re-computed score: API → validation → SQLite → scoring → live stream → page.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const exe = join(root, 'target/release/cellguard');
const samples = Number(process.env.SAMPLES || 60);
const work = mkdtempSync(join(tmpdir(), 'cellguard-bench-'));
const port = 26000 + Math.floor(Math.random() * 4000);
const base = `http://127.0.0.1:${port}`;

const plant = readFileSync(join(root, 'config/plant.toml'), 'utf8').replace('cells_per_minute = 30', 'cells_per_minute = 0');
const config = join(work, 'plant.toml');
writeFileSync(config, plant);
const env = { ...process.env, RUST_LOG: 'warn', LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, CELLGUARD_ADMIN_PASSWORD: 'bench admin password' };
const app = spawn(exe, ['--config', config, 'serve', '--data-dir', join(work, 'data')], { cwd: root, env, stdio: 'ignore' });
process.on('exit', () => app.kill('SIGTERM'));

for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/readyz`)).ok) break; } catch { /* not up yet */ }
  if (i > 300) throw new Error('CellGuard did not start');
  await new Promise((r) => setTimeout(r, 100));
}

// One simulated cell's values, from the same generator the line uses.
const csv = join(work, 'cells.csv');
await new Promise((resolve, reject) => {
  const p = spawn(exe, ['simulate', 'dataset', '--cells', String(samples), '--seed', '5', '--out', csv], { cwd: root, stdio: 'ignore' });
  p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`dataset exit ${c}`))));
});
const [head, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
const cols = head.split(',');
const stageOf = (name) => {
  const oqc = ['ocv_recheck', 'weight', 'thickness'];
  const fqc = ['formation_energy', 'first_cycle_efficiency', 'aging_time', 'capacity', 'ocv', 'acir', 'k_value'];
  return oqc.includes(name) ? 'OQC' : fqc.includes(name) ? 'FQC' : 'IPQC';
};
const body = (row, stage) => {
  const v = row.split(',');
  const serial = `B-${v[0]}`;
  const measurements = cols.slice(5, -1)
    .map((name, i) => ({ name, value: Number(v[5 + i]) }))
    .filter((m) => stageOf(m.name) === stage);
  return { key: `bench:${serial}:${stage}`, serial, order: v[2], lot: `B-${v[1]}`, product: v[3], stage, station: 'BENCH', ts: Date.now(), measurements };
};
// Signed in as the bench's admin (created from CELLGUARD_ADMIN_PASSWORD): the
// session cookie, for Node's fetch and for the browser context.
const signIn = async (origin) => {
  const r = await fetch(`${origin}/api/v1/session`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'bench admin password' }),
  });
  if (!r.ok) throw new Error(`sign-in: ${r.status} ${await r.text()}`);
  const [pair] = r.headers.get('set-cookie').split(';');
  const [name, value] = pair.split('=');
  return { name, value, header: pair };
};
const session = await signIn(base);
const post = async (b) => {
  const r = await fetch(`${base}/api/v1/inspections`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: session.header }, body: JSON.stringify(b) });
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
await context.addCookies([{ name: session.name, value: session.value, url: base }]);
const page = await context.newPage();
page.on('pageerror', (e) => console.log('page error:', e.message));
const latencies = [];
for (const row of rows) {
  const ipqc = body(row, 'IPQC');
  await post(ipqc);
  await post(body(row, 'FQC'));
  await page.goto(`${base}/cells/${ipqc.serial}`);
  await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent?.includes('live'));
  await page.waitForSelector('[data-testid="score"]');
  const seen = page.evaluate(() => new Promise((resolve) => {
    // The OQC section exists from the start ("No OQC inspection yet."); done when it holds one.
    const oqc = () => document.querySelector('[data-testid="stage"][data-stage="OQC"]');
    const done = () => oqc() && !oqc().querySelector('.empty') && document.querySelector('[data-testid="score"]');
    if (done()) { resolve(Date.now()); return; }
    const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); resolve(Date.now()); } });
    obs.observe(document.body, { subtree: true, childList: true, characterData: true });
  }));
  const pending = await page.evaluate(() => !!document.querySelector('[data-testid="stage"][data-stage="OQC"] .empty'));
  if (!pending) throw new Error('the OQC section is not empty before the post');
  const before = Date.now();
  await post(body(row, 'OQC'));
  latencies.push((await seen) - before);
}
await browser.close();
app.kill('SIGTERM');
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.round((s.length - 1) * p)]; };
console.log(`date: ${new Date().toISOString()}`);
console.log(`post OQC → re-scored cell visible on its page (${latencies.length} cells, 768x1024): p50 ${pct(latencies, 0.5)} ms, p90 ${pct(latencies, 0.9)} ms, p99 ${pct(latencies, 0.99)} ms, max ${Math.max(...latencies)} ms`);
process.exit(0);
