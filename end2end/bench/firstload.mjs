// First loads of four pages on a release build, cold cache, at tablet size (run from
// end2end/: `node bench/firstload.mjs`): bytes transferred (HTML, JS, wasm, CSS, icon,
// server-function responses and the live stream up to its first event, compressed,
// headers included), requests, first contentful paint, and hydrated and live (the
// header's stream state says "live": the islands ran and the stream answered).
// Starts `cellguard serve` (embedded simulated line) on a free port. RUNS (default 5)
// cold loads a page; the median is printed, with the smallest and largest.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const exe = join(root, 'target/release/cellguard');
const runs = Number(process.env.RUNS || 5);
const work = mkdtempSync(join(tmpdir(), 'cellguard-firstload-'));
const port = 27000 + Math.floor(Math.random() * 3000);
const origin = `http://127.0.0.1:${port}`;
const env = { ...process.env, RUST_LOG: 'warn', LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, CELLGUARD_ADMIN_PASSWORD: 'bench admin password' };
const app = spawn(exe, ['serve', '--data-dir', join(work, 'data')], { cwd: root, env, stdio: 'ignore' });
process.on('exit', () => app.kill('SIGTERM'));

for (let i = 0; ; i++) {
  try { if ((await fetch(`${origin}/readyz`)).ok) break; } catch { /* not up yet */ }
  if (i > 300) throw new Error('CellGuard did not start');
  await new Promise((r) => setTimeout(r, 100));
}
const r = await fetch(`${origin}/api/v1/session`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'admin', password: 'bench admin password' }),
});
if (!r.ok) throw new Error(`sign-in: ${r.status}`);
const [name, value] = r.headers.get('set-cookie').split(';')[0].split('=');
// Some history and some scored cells, so the pages are realistic.
await new Promise((r) => setTimeout(r, 8000));
const csv = await (await fetch(`${origin}/api/v1/export/cells.csv`, { headers: { cookie: `${name}=${value}` } })).text();
const [head, first] = csv.trim().split('\n');
const serial = first?.split(',')[head.split(',').indexOf('serial')];
if (!serial) throw new Error(`no cell to open: ${csv.slice(0, 200)}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function load(path) {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  await context.addCookies([{ name, value, url: origin }]);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  let requests = 0;
  let counting = true;
  const open = new Map();
  cdp.on('Network.requestWillBeSent', () => { if (counting) requests += 1; });
  cdp.on('Network.responseReceived', (e) => open.set(e.requestId, 0));
  // Data as it arrives (the stream never finishes), then the rest at the end of each
  // finished response (its headers included).
  cdp.on('Network.dataReceived', (e) => {
    if (counting && open.has(e.requestId)) {
      open.set(e.requestId, open.get(e.requestId) + e.encodedDataLength);
      bytes += e.encodedDataLength;
    }
  });
  cdp.on('Network.loadingFinished', (e) => {
    if (counting) bytes += Math.max(0, e.encodedDataLength - (open.get(e.requestId) ?? 0));
    open.delete(e.requestId);
  });
  const t0 = Date.now();
  await page.goto(`${origin}${path}`, { waitUntil: 'commit' });
  await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent?.includes('live'), null, { timeout: 30_000 });
  const live = Date.now() - t0;
  // Whatever the first event brought in is counted; nothing after.
  await new Promise((r) => setTimeout(r, 300));
  counting = false;
  const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
  await context.close();
  return { bytes, requests, fcp: Math.round(fcp), live, errors };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log(`date: ${new Date().toISOString()}, ${runs} cold loads each, 768x1024`);
console.log('| page | bytes transferred | requests | first contentful paint | hydrated and live |');
console.log('|---|---|---|---|---|');
for (const path of ['/', '/machines/CAS_01', '/quality', `/cells/${serial}`]) {
  const all = [];
  for (let i = 0; i < runs; i++) all.push(await load(path));
  const errors = all.flatMap((x) => x.errors);
  const f = (k) => `${median(all.map((x) => x[k]))} (${Math.min(...all.map((x) => x[k]))}–${Math.max(...all.map((x) => x[k]))})`;
  console.log(`| \`${path.startsWith('/cells/') ? '/cells/SERIAL' : path}\` | ${f('bytes')} B | ${f('requests')} | ${f('fcp')} ms | ${f('live')} ms |${errors.length ? ` errors: ${errors.join('; ')}` : ''}`);
}
await browser.close();
process.exit(0);
