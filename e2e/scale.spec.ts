// A directory of 500,000 entries in the page: the first listing, End / PageDown / wheel scrolling, a
// size sort and a search over all of it, each showing the right rows, while a requestAnimationFrame
// heartbeat records the frame gaps. Only behaviour is asserted here: every phase finishes and the page
// never freezes for a second. How smooth it is (max and p99 frame gap per phase) is a measurement, not
// a pass/fail bound on a shared machine: `npm run bench -- page` prints it (bench/page-scale.ts).
import { test, expect, type Page } from '@playwright/test';
import { join } from 'node:path';
import { fmt, screenshotBetweenBeats, startHeartbeat, stopHeartbeat } from './helpers/heartbeat.ts';
import { failOnPageErrors } from './helpers/page-errors.ts';
import { BIGGEST, SCALE_ENTRIES as N, scaleImage, scaleName as name } from './helpers/scale-image.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');
/** a frame gap this long is a frozen page, whatever else the machine is doing */
const FREEZE = 1000;
let IMAGE = '';

test.beforeAll(() => {
  test.setTimeout(120_000);
  IMAGE = scaleImage(CLI);
});

failOnPageErrors(test, /Content Security Policy|WebAssembly|Failed to load resource/);

const entry = (page: Page, n: string) => page.locator(`[data-testid=entry][data-name="${n}"]`);

test('500k entries: first listing, End / PageDown / wheel scrolling, size sort and search show the right rows and never freeze the page', async ({ page }) => {
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/');
  await startHeartbeat(page);
  const t0 = Date.now();
  await page.getByTestId('file-input').setInputFiles(IMAGE);
  await expect(entry(page, 'many')).toBeVisible();
  const tRoot = Date.now() - t0;
  const t1 = Date.now();
  await entry(page, 'many').click();
  await expect(entry(page, name(0))).toBeVisible();
  const tFirst = Date.now() - t1;
  await expect(page.getByTestId('entry-count')).toHaveText(`${N.toLocaleString('en-US')} entries`, { timeout: 120_000 });
  const tAll = Date.now() - t1;
  const load = await stopHeartbeat(page);
  console.log(`500k: image open to root listing ${tRoot} ms; /many first rows ${tFirst} ms, all ${N} entries ${tAll} ms; while loading: ${fmt(load)}`);
  // only the rows in view exist
  expect(await page.getByTestId('entry').count()).toBeLessThan(120);

  // keyboard: End reaches the last entry, PageDown pages from the top
  await startHeartbeat(page);
  const list = page.getByTestId('listing-scroll');
  await list.focus();
  await page.keyboard.press('End');
  await expect(entry(page, name(N - 1))).toBeVisible();
  await expect(page.getByTestId('details-name')).toHaveText(name(N - 1));
  await screenshotBetweenBeats(page, join(SHOTS, 'scale-01-500k-end.png'));
  await page.keyboard.press('Home');
  await expect(entry(page, name(0))).toBeVisible();
  for (let i = 0; i < 10; i++) await page.keyboard.press('PageDown');
  const afterPages = Number(await page.locator('[data-testid=entry].selected').getAttribute('data-index'));
  expect(afterPages).toBeGreaterThan(100);
  await expect(page.getByTestId('details-name')).toHaveText(name(afterPages - 1));
  // the wheel: big steps through the middle, then the scrollbar to the very end
  const box = (await list.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 30; i++) {
    await page.mouse.wheel(0, 40_000);
    await page.waitForTimeout(16);
  }
  const mid = Number(await page.getByTestId('entry').first().getAttribute('data-index'));
  expect(mid).toBeGreaterThan(20_000);
  await list.evaluate((el) => (el.scrollTop = el.scrollHeight / 2));
  await expect(entry(page, name(N / 2))).toBeVisible();
  await list.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expect(entry(page, name(N - 1))).toBeVisible();
  const scroll = await stopHeartbeat(page);
  console.log(`500k: scrolling (End, Home, 10 × PageDown, 30 wheel steps, scrollbar) ${fmt(scroll)}`);

  // size sort over all 500k: the biggest file first, the page keeps drawing while it sorts
  await list.evaluate((el) => (el.scrollTop = 0));
  await expect(entry(page, name(0))).toBeVisible();
  await startHeartbeat(page);
  const t2 = Date.now();
  await page.getByTestId('sort-size').click();
  await expect(page.getByTestId('entry').first()).toHaveAttribute('data-name', BIGGEST, { timeout: 30_000 });
  const tSort = Date.now() - t2;
  await list.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expect(page.getByTestId('entry').last()).toContainText(/\b0 B\b|^\s*$/);
  await list.evaluate((el) => (el.scrollTop = 0));
  await expect(page.getByTestId('entry').first()).toHaveAttribute('data-name', BIGGEST);
  await screenshotBetweenBeats(page, join(SHOTS, 'scale-02-500k-size-sort.png'));
  const sort = await stopHeartbeat(page);
  console.log(`500k: size sort ${tSort} ms; ${fmt(sort)}`);

  // a search that walks every entry and matches 10,000+ of them
  await startHeartbeat(page);
  const t3 = Date.now();
  await page.getByTestId('search').fill('many/f1*');
  await expect(page.getByTestId('search-state')).toContainText('first 10000 matches', { timeout: 60_000 });
  const tSearch = Date.now() - t3;
  await expect(page.getByTestId('search-hit')).toHaveCount(2000);
  await expect(page.getByTestId('search-hit').first()).toHaveAttribute('data-path', `/many/${name(100_000)}`);
  await screenshotBetweenBeats(page, join(SHOTS, 'scale-03-500k-search.png'));
  await page.getByTestId('search').fill('needle');
  await expect(page.getByTestId('search-state')).toContainText('1 match', { timeout: 60_000 });
  await expect(page.getByTestId('search-state')).toContainText(`in ${N + 4} entries`);
  const search = await stopHeartbeat(page);
  console.log(`500k: search 'many/f1*' ${tSearch} ms; full walk for 'needle'; ${fmt(search)}`);

  // the page kept drawing while the entries streamed in, and no phase froze it
  expect(load.frames).toBeGreaterThan(10);
  for (const [phase, b] of Object.entries({ load, scroll, sort, search })) expect(b.max, `${phase}: ${fmt(b)}`).toBeLessThan(FREEZE);
});
