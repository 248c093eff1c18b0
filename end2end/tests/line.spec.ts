import { expect, test, type Page } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN, ADMIN_PASSWORD, signIn } from './auth';

// The data line of a plotters chart (axes and ticks are 1 px wide).
const DATA_LINE = 'svg polyline[stroke-width="2"]';

async function waitForLive(page: Page) {
  // Hydrated and subscribed: the header says "live".
  await expect(page.getByTestId('connection')).toHaveText(/live/);
}

async function noHorizontalScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

test('the overview shows three machine cards at tablet size', async ({ page }) => {
  await page.goto('/');
  const cards = page.getByTestId('machine-card');
  await expect(cards).toHaveCount(3);
  for (const id of ['CAS_01', 'FORM_01', 'EOL_01']) {
    await expect(page.locator(`[data-machine="${id}"]`)).toBeVisible();
  }
  await waitForLive(page);
  await expect(page.locator('[data-machine="CAS_01"] [data-testid="state"]')).not.toHaveText('');
  await noHorizontalScroll(page);
});

test('a value changes without a reload', async ({ page }) => {
  await page.goto('/');
  await waitForLive(page);
  await page.evaluate(() => { (window as any).__noReload = true; });
  const speed = page.locator('[data-machine="CAS_01"] [data-tag="speed"] [data-testid="value"]');
  const first = await speed.innerText();
  await expect(async () => {
    expect(await speed.innerText()).not.toBe(first);
  }).toPass({ timeout: 10_000 });
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
});

test('a machine page shows a chart that is redrawn as values arrive', async ({ page }) => {
  await page.goto('/');
  await waitForLive(page);
  await page.locator('[data-machine="CAS_01"]').tap();
  await expect(page).toHaveURL(/\/machines\/CAS_01/);
  const chart = page.locator('[data-testid="chart"][data-tag="speed"]');
  // One line, or one per stretch of data when there are gaps: the newest is last.
  await expect(chart.locator(DATA_LINE).last()).toBeAttached();
  const before = await chart.locator(DATA_LINE).last().getAttribute('points');
  await expect(async () => {
    expect(await chart.locator(DATA_LINE).last().getAttribute('points')).not.toBe(before);
  }).toPass({ timeout: 10_000 });
  await noHorizontalScroll(page);
});

test('ranges switch from history and touch targets are large enough', async ({ page }) => {
  await page.goto('/machines/FORM_01');
  await waitForLive(page);
  const ranges = page.getByRole('navigation', { name: 'Time range' }).getByRole('link');
  await expect(ranges).toHaveCount(8);
  for (const box of await ranges.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height))) {
    expect(box).toBeGreaterThanOrEqual(44);
  }
  await ranges.filter({ hasText: '1 h' }).tap();
  await expect(page).toHaveURL(/range=1h/);
  await expect(page.locator('[data-testid="chart"][data-tag="current"] svg')).toContainText('−');
  await expect(page.locator('[data-testid="chart"]').first().locator(DATA_LINE).last()).toBeAttached();
  // A month reads the rollups; its axis counts days.
  await ranges.filter({ hasText: '30 d' }).tap();
  await expect(page).toHaveURL(/range=30d/);
  await expect(page.locator('[data-testid="chart"][data-tag="current"] svg')).toContainText('−5 d');
  await expect(page.locator('[data-testid="chart"]').first().locator(DATA_LINE).last()).toBeAttached();
});

test('the desktop layout has no horizontal scroll either', async ({ page }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto('/');
  await waitForLive(page);
  await noHorizontalScroll(page);
  await page.setViewportSize({ width: 1024, height: 768 });
  await noHorizontalScroll(page);
});

test('a lost connection is shown and re-established by itself', async ({ page }) => {
  // An instance of our own, so the test can stop and restart the server.
  const port = Number(process.env.CELLGUARD_E2E_PORT || 3300) + 1;
  const dataDir = mkdtempSync(join(tmpdir(), 'cellguard-e2e-restart-'));
  const start = () => spawn('./target/release/cellguard', ['serve', '--data-dir', dataDir], {
    cwd: '..',
    env: { ...process.env, LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, RUST_LOG: 'warn', CELLGUARD_ADMIN_PASSWORD: ADMIN_PASSWORD },
    stdio: 'ignore',
  });
  const ready = async () => {
    await expect(async () => {
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    }).toPass({ timeout: 30_000 });
  };
  let server = start();
  try {
    await ready();
    // Its own database, its own admin; the session outlives the restart (it is
    // stored in the database, not in the server's memory).
    await signIn(page, ADMIN, ADMIN_PASSWORD, `http://127.0.0.1:${port}`);
    await waitForLive(page);
    server.kill('SIGTERM');
    await expect(page.getByTestId('connection')).toHaveText(/connection lost/);
    server = start();
    await ready();
    await waitForLive(page);
    // Values flow again after the reconnection, without a reload.
    const speed = page.locator('[data-machine="CAS_01"] [data-tag="speed"] [data-testid="value"]');
    const first = await speed.innerText();
    await expect(async () => {
      expect(await speed.innerText()).not.toBe(first);
    }).toPass({ timeout: 10_000 });
  } finally {
    server.kill('SIGTERM');
  }
});
