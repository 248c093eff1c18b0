import { expect, test, type Page } from '@playwright/test';

async function waitForLive(page: Page) {
  await expect(page.getByTestId('connection')).toHaveText(/live/);
}

async function noHorizontalScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

function produced(text: string | null): number {
  return Number((text ?? '').split('/')[0].trim());
}

test('the orders page shows 98765 and 98766 with progress that moves as cells are produced', async ({ page }) => {
  await page.goto('/orders');
  await waitForLive(page);
  const active = page.locator('[data-testid="order-card"][data-order="98765"]');
  const next = page.locator('[data-testid="order-card"][data-order="98766"]');
  await expect(active).toBeVisible();
  await expect(active).toContainText('High Capacity Cell');
  await expect(active.getByTestId('order-state')).toHaveText('Producing');
  await expect(next).toContainText('Standard Capacity Cell');
  await expect(next.getByTestId('order-produced')).toContainText('/ 1500');
  await expect(active.getByTestId('order-produced')).toContainText('/ 2000');

  // The simulated line builds a cell every two seconds: the count and the bar move
  // without a reload.
  const before = produced(await active.getByTestId('order-produced').textContent());
  await expect
    .poll(async () => produced(await active.getByTestId('order-produced').textContent()), { timeout: 30_000 })
    .toBeGreaterThan(before);
  const bar = active.getByRole('progressbar');
  await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 15_000 }).toBeGreaterThan(before);
  await noHorizontalScroll(page);

  // The cells of the order are one tap away.
  await active.getByTestId('order-cells').tap();
  await expect(page).toHaveURL(/\/cells\?order=98765$/);
  await expect(page.getByTestId('cell-count')).toHaveText(/\d+ cells?/);
});

test('the header shows the MES link and the MES page lists what was delivered', async ({ page }) => {
  await page.goto('/');
  await waitForLive(page);
  const link = page.getByTestId('mes-link-state');
  await expect(link).toHaveText(/MES (ok|· sending)/);
  await link.tap();
  await expect(page).toHaveURL(/\/mes$/);
  await expect(page.getByTestId('mes-link')).toHaveText('Connected');
  await page.getByTestId('outbox-tab-delivered').tap();
  await expect(page).toHaveURL(/list=delivered/);
  await expect(page.getByTestId('outbox-row').first()).toBeVisible();
  await expect(page.getByTestId('outbox-table')).toContainText(/quality result|order confirmation|machine data/);
  await page.getByTestId('outbox-tab-dead').tap();
  await expect(page.getByTestId('outbox-empty')).toContainText('No dead letters');
  await noHorizontalScroll(page);
});
