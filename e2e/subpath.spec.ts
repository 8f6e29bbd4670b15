// The built page served from a sub-path of a host (http://127.0.0.1:PORT/some/deep/path/, as a
// project page would be): every request stays under the sub-path, the built-in samples open, the
// service worker takes the sub-path as its scope, and once the server is gone the page still loads
// and opens samples (an EROFS one and a Nydus one with its blob) from its cache.
import { test, expect, type Page } from '@playwright/test';
import { join } from 'node:path';
import { serveStatic, type StaticServer } from './helpers/static-server.ts';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
/** what `npm run build` made for the Playwright web server */
const DIST = join(import.meta.dirname, '..', 'dist');
const PREFIX = '/some/deep/path/';

// with the server stopped, Chromium logs the failed service worker update check
failOnPageErrors(test, /Failed to load resource|ERR_CONNECTION_REFUSED|Failed to update a ServiceWorker/);
let srv: StaticServer | null = null;
test.afterEach(async () => {
  await srv?.close();
  srv = null;
});

const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

async function openOsRelease(page: Page): Promise<void> {
  await page.getByTestId('sample').filter({ hasText: 'EROFS, uncompressed' }).click();
  await expect(page.getByTestId('format')).toHaveText(/erofs/i);
  await entry(page, 'etc').click();
  await entry(page, 'os-release').click();
  await expect(page.getByTestId('text')).toContainText('PRETTY_NAME="Layerscope Sample 1.0"');
}

test('served from a sub-path: samples open, the service worker is scoped there, and the page works with the server gone', async ({ page }) => {
  srv = await serveStatic(DIST, PREFIX);
  const base = srv.url;
  await page.goto(base);
  await expect(page.getByTestId('welcome')).toBeVisible();
  await openOsRelease(page);
  // a Nydus sample: bootstrap and blob both come from samples/ under the sub-path
  await page.goto(base);
  await page.getByTestId('sample').filter({ hasText: 'Nydus RAFS v6 + zstd blob' }).click();
  await entry(page, 'lib.rs').click();
  await expect(page.getByTestId('text')).toContainText('SPDX-License-Identifier');

  // the service worker: registered for the sub-path, the samples cached when it installed
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  expect(scope).toBe(base);
  const cached = () => page.evaluate(async () => (await (await caches.open('layerscope-v1')).keys()).map((r) => r.url));
  await expect.poll(cached, { timeout: 15_000 }).toEqual(expect.arrayContaining([
    `${base}samples/index.json`, `${base}samples/sample.erofs`, `${base}samples/nydus/rafs-v6-zstd.boot`,
    `${base}samples/nydus/be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef`,
  ]));
  // it controls the page after a reload; then the page's own scripts and styles are in its cache
  await page.goto(base);
  await expect.poll(() => page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  const assets = await page.evaluate(() => [...document.querySelectorAll<HTMLScriptElement | HTMLLinkElement>('script[src], link[rel=stylesheet]')].map((e) => ('src' in e ? e.src : e.href)));
  expect(assets.length).toBeGreaterThan(1);
  for (const a of assets) expect(a.startsWith(base)).toBe(true);
  await expect.poll(cached, { timeout: 15_000 }).toEqual(expect.arrayContaining(assets));
  // every request stayed under the sub-path, and none failed
  expect(srv.log.filter((l) => !l.split(' ')[1]!.startsWith(PREFIX) || / 404$/.test(l))).toEqual([]);

  // the server goes away: the page, the sample list and the samples still load
  await srv.close();
  srv = null;
  await page.reload();
  await expect(page.getByTestId('welcome')).toBeVisible();
  await openOsRelease(page);
  await expect(page).toHaveURL(/#sample=sample\.erofs&path=\/etc\/os-release/);
  await page.screenshot({ path: join(SHOTS, 'subpath-01-offline-sample.png') });
  // a deep link reopens from the cache too, and a Nydus sample reads its blob from it
  await page.reload();
  await expect(page.getByTestId('text')).toContainText('PRETTY_NAME="Layerscope Sample 1.0"');
  // (a file not read before: its chunks are in no chunk cache, they come from the blob)
  await page.goto(`${base}#sample=nydus/rafs-v6-zstd.boot&path=/sync_io.rs`);
  await page.reload(); // only the hash changed: the page reads it when it loads
  await expect(page.getByTestId('text')).toContainText('Fuse passthrough file system');
});
