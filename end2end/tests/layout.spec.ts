import { expect, test, type Page } from '@playwright/test';

// The sizes CellGuard is used at: a 10-inch tablet upright and on its side, a laptop,
// a desktop.
const SIZES = [
  { width: 768, height: 1024 },
  { width: 1024, height: 768 },
  { width: 1280, height: 800 },
  { width: 1440, height: 900 },
];

type Box = { label: string; x: number; y: number; width: number; height: number };

// The navigation's items that are shown (links and the "More" button), with their boxes.
async function navItems(page: Page): Promise<Box[]> {
  return page.locator('nav.nav a, nav.nav label.nav-more').evaluateAll((els) =>
    els
      .filter((e) => getComputedStyle(e).display !== 'none' && e.getClientRects().length > 0)
      .map((e) => {
        const r = e.getBoundingClientRect();
        return { label: (e as HTMLElement).innerText.trim(), x: r.x, y: r.y, width: r.width, height: r.height };
      }),
  );
}

function overlap(a: Box, b: Box): boolean {
  // Touching edges is not overlapping; half a pixel of rounding is allowed.
  const e = 0.5;
  return a.x + a.width - e > b.x && b.x + b.width - e > a.x && a.y + a.height - e > b.y && b.y + b.height - e > a.y;
}

function expectApart(items: Box[]) {
  for (let i = 0; i < items.length; i++) {
    expect(items[i].height, `${items[i].label} is a 48 px target`).toBeGreaterThanOrEqual(48);
    expect(items[i].width, `${items[i].label} is a 48 px target`).toBeGreaterThanOrEqual(48);
    for (let j = i + 1; j < items.length; j++) {
      expect(overlap(items[i], items[j]), `"${items[i].label}" and "${items[j].label}" overlap`).toBe(false);
    }
  }
}

async function noHorizontalScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

// A badge as the server pushes one (the line may have none waiting right now): the
// layout must hold with the widest count the bar shows.
async function showBadge(page: Page) {
  // After the stream's first events, which bring the real badge if something waits.
  await expect(page.getByTestId('connection')).toHaveText(/live/);
  await page.waitForTimeout(500);
  await page.evaluate(() => {
    const link = [...document.querySelectorAll('nav.nav a')].find((a) => a.textContent?.startsWith('Actions'));
    if (link && !link.querySelector('[data-testid="actions-count"]')) {
      const badge = document.createElement('span');
      badge.className = 'count alarm';
      badge.dataset.testid = 'actions-count';
      badge.textContent = '12';
      link.appendChild(badge);
    }
  });
}

for (const size of SIZES) {
  test(`the navigation fits at ${size.width}×${size.height}: no overlaps, no sideways scroll`, async ({ page }) => {
    await page.setViewportSize(size);
    await page.goto('/');
    await expect(page.getByTestId('machine-card').first()).toBeVisible();
    await showBadge(page);
    const items = await navItems(page);
    expectApart(items);
    // The badge sits inside its link, after the word, never over another item.
    const badge = await page.getByTestId('actions-count').first().boundingBox();
    const actions = items.find((i) => i.label.startsWith('Actions'));
    expect(badge && actions).toBeTruthy();
    if (badge && actions) {
      expect(badge.x).toBeGreaterThanOrEqual(actions.x);
      expect(badge.x + badge.width).toBeLessThanOrEqual(actions.x + actions.width + 0.5);
      for (const other of items.filter((i) => i !== actions)) {
        expect(overlap({ label: 'badge', ...badge }, other), `the badge overlaps "${other.label}"`).toBe(false);
      }
    }
    // The page shown is marked (its unacknowledged-alarms badge may follow the word:
    // the line runs on while the tests do).
    await expect(page.locator('nav.nav a[aria-current="page"]')).toHaveText(/^Line/);
    await noHorizontalScroll(page);

    const more = page.getByTestId('nav-more');
    if (size.width <= 768) {
      // Upright: the four a supervisor uses most, the rest under "More".
      expect(items.map((i) => i.label)).toEqual([expect.stringMatching(/^Line/), 'Quality', 'Cells', expect.stringMatching(/^Actions/), 'More']);
      await more.tap();
      const open = await navItems(page);
      expect(open.map((i) => i.label)).toEqual(expect.arrayContaining(['Orders', 'Models', 'Import', 'Audit', 'Users']));
      expectApart(open);
      await noHorizontalScroll(page);
      await page.locator('nav.nav a', { hasText: 'Models' }).tap();
      await expect(page).toHaveURL(/\/models$/);
      // On a page under "More", the button shows where the person is.
      const bg = await page.getByTestId('nav-more').evaluate((e) => getComputedStyle(e).backgroundColor);
      expect(bg).not.toBe('rgba(0, 0, 0, 0)');
      await expect(page.locator('nav.nav a[aria-current="page"]')).toHaveText('Models');
    } else {
      await expect(more).toBeHidden();
      expect(items.map((i) => i.label)).toEqual(expect.arrayContaining(['Orders', 'Models', 'Import', 'Audit', 'Users']));
    }
  });
}

// WCAG 2.x contrast of the text on each machine-state colour and of the header's
// text, read from the computed styles (the background is the nearest ancestor's
// that is not transparent).
async function contrasts(page: Page, selector: string) {
  return page.locator(selector).evaluateAll((els) => {
    const parse = (c: string) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const f = (v: number) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    // The background under the text: each translucent layer laid over the one
    // beneath it, down to the first opaque one (white below the page).
    const background = (from: Element) => {
      const layers: { r: number; g: number; b: number; a: number }[] = [];
      for (let e: Element | null = from; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0) {
          layers.push(c);
          if (c.a >= 1) break;
        }
      }
      let out = { r: 255, g: 255, b: 255 };
      for (const l of layers.reverse()) {
        out = { r: l.r * l.a + out.r * (1 - l.a), g: l.g * l.a + out.g * (1 - l.a), b: l.b * l.a + out.b * (1 - l.a) };
      }
      return out;
    };
    return els.map((e) => {
      const fg = parse(getComputedStyle(e).color)!;
      const solid = background(e);
      const [l1, l2] = [lum(fg), lum(solid)].sort((a, b) => b - a);
      return { text: (e as HTMLElement).innerText.trim() || e.className, ratio: (l1 + 0.05) / (l2 + 0.05) };
    });
  });
}

test('machine-state colours and the header read at WCAG AA (4.5:1)', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('machine-card').first()).toBeVisible();
  // One badge of every state class, as the cards draw them.
  await page.evaluate(() => {
    const host = document.createElement('div');
    host.id = 'contrast-samples';
    for (const s of ['running', 'stopped', 'held', 'fault', 'transition', 'unknown']) {
      const el = document.createElement('div');
      el.className = `state state-${s}`;
      el.textContent = s.toUpperCase();
      host.appendChild(el);
    }
    for (const q of ['stale', 'bad', 'comm-lost']) {
      const v = document.createElement('div');
      v.className = `value q-${q}`;
      v.innerHTML = `<dd><span class="num">1.0</span><span class="quality">${q}</span></dd>`;
      host.appendChild(v);
    }
    document.querySelector('main')!.prepend(host);
  });
  const checked = [
    ...(await contrasts(page, '#contrast-samples .state, #contrast-samples .quality')),
    ...(await contrasts(page, '[data-testid="machine-card"] [data-testid="state"], [data-testid="machine-card"] .machine-name, [data-testid="machine-card"] .age')),
    ...(await contrasts(page, '.topbar .brand, .topbar .plant, nav.nav a, [data-testid="connection"], .whoami .who')),
  ];
  expect(checked.length).toBeGreaterThan(12);
  for (const c of checked) {
    expect(c.ratio, `"${c.text}" has a contrast of ${c.ratio.toFixed(2)}:1`).toBeGreaterThanOrEqual(4.5);
  }
});
