// Takes screenshots of a running CellGuard: node screenshot.mjs URL OUT.png [width] [height] [waitMs]
// With CELLGUARD_USER and CELLGUARD_PASSWORD set, signs in first (through the form).
import { chromium } from 'playwright-core';

const [url, out, width = '768', height = '1024', wait = '3000'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`console ${m.type()}: ${m.text()}`); });
page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
if (process.env.CELLGUARD_USER) {
  await page.goto(new URL('/signin', url).href);
  await page.getByTestId('username').fill(process.env.CELLGUARD_USER);
  await page.getByTestId('password').fill(process.env.CELLGUARD_PASSWORD || '');
  await page.getByTestId('signin').click();
  await page.getByTestId('whoami').waitFor();
}
await page.goto(url);
await page.waitForTimeout(Number(wait));
// SCROLL_Y=px: scrolled down that far first (with FULL_PAGE=0, to see a page's lower part).
if (process.env.SCROLL_Y) await page.evaluate((y) => window.scrollTo(0, y), Number(process.env.SCROLL_Y));
// FULL_PAGE=0: only the viewport (a long page's full height can be too large to view).
await page.screenshot({ path: out, fullPage: process.env.FULL_PAGE !== '0' });
await browser.close();
