// Browser-side benchmarks of a release build (run from end2end/: `node bench/browser.mjs`):
//  1. register change in a PLC → value visible in the browser (p50, p99);
//  2. bytes a first page load transfers (compressed) and the wasm size;
//  3. navigation → first chart painted, and → hydrated and live.
// Starts its own simulated line (`cellguard simulate line`) and `cellguard serve`
// on free ports, writes registers with a minimal Modbus TCP client over real TCP.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import zlib from 'node:zlib';

const root = new URL('../..', import.meta.url).pathname;
const exe = join(root, 'target/release/cellguard');
const samples = Number(process.env.SAMPLES || 40);
const work = mkdtempSync(join(tmpdir(), 'cellguard-bench-'));
const base = 25000 + Math.floor(Math.random() * 5000);
const webPort = base + 10;

// The default plant, pointed at a standalone simulator, with the speed setpoint in the fast scan group.
let plant = readFileSync(join(root, 'config/plant.toml'), 'utf8')
  .replace('embedded = true', 'embedded = false')
  .replace('port = 15020', `port = ${base}`).replace('port = 15021', `port = ${base + 1}`).replace('port = 15022', `port = ${base + 2}`);
plant = plant.replace(/(name = "speed_setpoint"[\s\S]*?scan_group = )"slow"/, '$1"fast"');
const config = join(work, 'plant.toml');
writeFileSync(config, plant);

const env = { ...process.env, RUST_LOG: 'warn', LEPTOS_SITE_ADDR: `127.0.0.1:${webPort}`, CELLGUARD_ADMIN_PASSWORD: 'bench admin password' };
const sim = spawn(exe, ['--config', config, 'simulate', 'line', '--seed', '1'], { cwd: root, env, stdio: 'ignore' });
const app = spawn(exe, ['--config', config, 'serve', '--data-dir', join(work, 'data')], { cwd: root, env, stdio: 'ignore' });
const stop = () => { sim.kill('SIGTERM'); app.kill('SIGTERM'); };
process.on('exit', stop);

async function waitReady() {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${webPort}/readyz`);
      const body = await r.json();
      if (body.plcs.every((p) => p.link === 'online')) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('CellGuard did not become ready');
}

// Write an f32 (ABCD) to holding register `address` of unit 1 with function 16.
function writeF32(port, address, value) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      const v = Buffer.alloc(4); v.writeFloatBE(value);
      const pdu = Buffer.from([0x10, address >> 8, address & 0xff, 0, 2, 4, ...v]);
      const mbap = Buffer.from([0, 1, 0, 0, 0, pdu.length + 1, 1]);
      s.write(Buffer.concat([mbap, pdu]));
    });
    s.on('data', (d) => { s.end(); d[7] === 0x10 ? resolve() : reject(new Error(`exception ${d[8]}`)); });
    s.on('error', reject);
  });
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.round((s.length - 1) * p)]; };

await waitReady();
// Let history accumulate a little so the page is realistic.
await new Promise((r) => setTimeout(r, 3000));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// 2 + 3: a cold first load of the machine page.
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
const session = await signIn(`http://127.0.0.1:${webPort}`);
const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
// The cookie only: the cache stays cold.
await context.addCookies([{ name: session.name, value: session.value, url: `http://127.0.0.1:${webPort}` }]);
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error') console.log('console:', m.text()); });
page.on('pageerror', (e) => console.log('page error:', e.message));
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
let transferred = 0;
const perUrl = {};
cdp.on('Network.loadingFinished', (e) => { transferred += e.encodedDataLength; });
cdp.on('Network.responseReceived', (e) => { perUrl[e.requestId] = e.response.url; });
const t0 = Date.now();
await page.goto(`http://127.0.0.1:${webPort}/machines/CAS_01`, { waitUntil: 'commit' });
await page.waitForSelector('[data-testid="chart"] svg polyline[stroke-width="2"]');
const firstChart = Date.now() - t0;
await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent?.includes('live'));
const live = Date.now() - t0;
const paint = await page.evaluate(() => performance.getEntriesByType('paint').map((p) => [p.name, Math.round(p.startTime)]));
await new Promise((r) => setTimeout(r, 500));
// The live stream never finishes; count what the page itself loaded.
const wasm = statSync(join(root, 'target/site/pkg/cellguard.wasm')).size;
const wasmGz = zlib.gzipSync(readFileSync(join(root, 'target/site/pkg/cellguard.wasm')), { level: 9 }).length;
const wasmBr = zlib.brotliCompressSync(readFileSync(join(root, 'target/site/pkg/cellguard.wasm'))).length;

// 1: register → browser.
const latencies = [];
for (let i = 0; i < samples; i++) {
  const v = 700 + i;
  const seen = page.evaluate((want) => new Promise((resolve) => {
    const el = () => document.querySelector('[data-testid="chart"][data-tag="speed_setpoint"] .chart-value');
    const check = () => { if (el()?.textContent?.startsWith(`${want}.0`)) { resolve(Date.now()); return true; } return false; };
    if (check()) return;
    const obs = new MutationObserver(() => { if (check()) obs.disconnect(); });
    obs.observe(document.body, { subtree: true, childList: true, characterData: true });
  }), v);
  const before = Date.now();
  await writeF32(base, 20, v);
  const after = await seen;
  latencies.push(after - before);
  await new Promise((r) => setTimeout(r, 137));
}
await browser.close();
stop();

console.log(`date: ${new Date().toISOString()}`);
console.log(`wasm: ${wasm} B raw, ${wasmGz} B gzip -9, ${wasmBr} B brotli (q11)`);
console.log(`first load of /machines/CAS_01 (768x1024): ${transferred} B transferred (all responses, compressed, headers included)`);
console.log(`navigation → chart in the DOM (server-rendered, seen by the test driver): ${firstChart} ms; browser paint timings: ${JSON.stringify(paint)}; → hydrated and live: ${live} ms`);
console.log(`register write → value in the browser (scan period 100 ms), n=${latencies.length}: p50 ${pct(latencies, 0.5)} ms, p99 ${pct(latencies, 0.99)} ms, max ${Math.max(...latencies)} ms`);
process.exit(0);
