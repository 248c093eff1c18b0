import { expect, type Page } from '@playwright/test';

// Waits until a lazy island's part of the bundle has arrived and its controls work
// (it sets data-hydrated once it runs in the browser).
export async function islandReady(page: Page, testid: string) {
  await expect(page.getByTestId(testid)).toHaveAttribute('data-hydrated', 'true');
}

// Taps a destination of the main navigation, opening "More" first when the page is
// narrow enough to keep it there.
export async function tapNav(page: Page, name: string) {
  const link = page.locator('nav.nav a', { hasText: name });
  await expect(async () => {
    if (!(await link.isVisible())) {
      await page.getByTestId('nav-more').tap();
    }
    await expect(link).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await link.tap();
}
