// Several images open side by side: two EROFS images made by mkfs.erofs from different trees, each
// in its own pane with its own worker; navigation, keys and closing act on one pane only; drops
// replace a pane or add one beside; the link reopens every pane that came from a sample.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');

let work: string;
let alpha: string;
let beta: string;

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-multi-'));
  const a = join(work, 'a');
  mkdirSync(join(a, 'etc/conf.d'), { recursive: true });
  writeFileSync(join(a, 'etc/hostname'), 'alpha-host\n');
  writeFileSync(join(a, 'etc/conf.d/net'), 'iface=eth0\n');
  writeFileSync(join(a, 'alpha.txt'), 'only in alpha\n');
  const b = join(work, 'b');
  mkdirSync(join(b, 'usr/share'), { recursive: true });
  writeFileSync(join(b, 'usr/share/beta.txt'), 'only in beta\n');
  writeFileSync(join(b, 'readme'), 'the beta image\n');
  alpha = join(work, 'alpha.erofs');
  beta = join(work, 'beta.erofs');
  for (const [img, tree] of [[alpha, a], [beta, b]] as const) execFileSync('mkfs.erofs', ['-T', '1600000000', '--all-root', '--quiet', img, tree]);
});

test.afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

failOnPageErrors(test);

const pane = (page: Page, name: string) => page.locator(`[data-testid=pane][data-name$="${name}"]`);
const entry = (scope: ReturnType<typeof pane>, name: string) => scope.locator(`[data-testid=entry][data-name="${name}"]`);
const crumbCount = (scope: ReturnType<typeof pane>) => scope.getByTestId('breadcrumbs').getByRole('button');
const inspectorWorkers = (page: Page) => page.workers().filter((w) => /inspector/.test(w.url())).length;

/** "Open beside…" in the header, through the real file chooser */
async function openBeside(page: Page, file: string): Promise<void> {
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByTestId('open-beside').click()]);
  await chooser.setFiles(file);
}

/** alpha opened by the file picker, then beta beside it: the two panes */
async function openAlphaAndBeta(page: Page): Promise<{ A: ReturnType<typeof pane>; B: ReturnType<typeof pane> }> {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(alpha);
  const A = pane(page, 'alpha.erofs');
  await expect(entry(A, 'alpha.txt')).toBeVisible();
  await openBeside(page, beta);
  await expect(page.getByTestId('pane')).toHaveCount(2);
  return { A, B: pane(page, 'beta.erofs') };
}

test('two images side by side: own names, own navigation and keys, own workers; closing one keeps the other', async ({ page }) => {
  const { A, B } = await openAlphaAndBeta(page);
  // both trees at once, each under its own name, left to right in the order opened
  await expect(entry(A, 'etc')).toBeVisible();
  await expect(entry(B, 'usr')).toBeVisible();
  await expect(A.getByTestId('image-title')).toContainText('alpha.erofs');
  await expect(B.getByTestId('image-title')).toContainText('beta.erofs');
  await expect(entry(A, 'usr')).toHaveCount(0);
  await expect(entry(B, 'etc')).toHaveCount(0);
  const [boxA, boxB] = [(await A.boundingBox())!, (await B.boundingBox())!];
  expect(boxA.x + boxA.width).toBeLessThanOrEqual(boxB.x + 1);
  expect(Math.abs(boxA.y - boxB.y)).toBeLessThan(2);
  // one worker per pane
  await expect.poll(() => inspectorWorkers(page)).toBe(2);

  // clicks in one pane leave the other where it was
  await entry(A, 'etc').click();
  await entry(A, 'conf.d').click();
  await expect(crumbCount(A)).toHaveCount(3);
  await expect(crumbCount(B)).toHaveCount(1);
  await entry(B, 'readme').click();
  await expect(B.getByTestId('text')).toHaveText('the beta image\n');
  await expect(crumbCount(A)).toHaveCount(3);

  // keys act on the focused pane only: B was clicked last, so Backspace is B's (at its root: nothing)
  await page.keyboard.press('Backspace');
  await expect(crumbCount(A)).toHaveCount(3);
  await A.getByTestId('listing-scroll').focus();
  await page.keyboard.press('Backspace');
  await expect(crumbCount(A)).toHaveCount(2);
  await expect(B.getByTestId('details-name')).toHaveText('readme');
  // '/' opens the focused pane's search, not the other's
  await page.keyboard.press('/');
  await expect(A.getByTestId('search')).toBeFocused();
  await page.keyboard.type('beta');
  await expect(A.getByTestId('search-state')).toContainText('0 matches', { timeout: 15_000 });
  await expect(B.getByTestId('search-state')).toHaveCount(0);
  await page.keyboard.press('Escape');
  await entry(A, 'hostname').click();
  await expect(A.getByTestId('text')).toHaveText('alpha-host\n');
  await B.getByTestId('tab-stats').click();
  await expect(B.getByTestId('stat-entries')).not.toHaveText('0');
  await expect(A.getByTestId('tab-files')).toHaveAttribute('aria-pressed', 'true');
  await B.getByTestId('tab-files').click();
  await expect(B.getByTestId('text')).toHaveText('the beta image\n');
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(SHOTS, 'multi-side-by-side.png') });
  // a narrow window puts one pane under the other
  const wide = page.viewportSize()!;
  await page.setViewportSize({ width: 760, height: 900 });
  const [topA, topB] = [(await A.boundingBox())!, (await B.boundingBox())!];
  expect(topB.y).toBeGreaterThanOrEqual(topA.y + topA.height - 1);
  expect(Math.abs(topA.x - topB.x)).toBeLessThan(2);
  await page.screenshot({ path: join(SHOTS, 'multi-stacked.png') });
  await page.setViewportSize(wide);

  // closing B ends its worker; A keeps its place
  await B.getByTestId('pane-close').click();
  await expect(page.getByTestId('pane')).toHaveCount(1);
  await expect(A.getByTestId('details-name')).toHaveText('hostname');
  await expect.poll(() => inspectorWorkers(page)).toBe(1);
  // alone, the image's name and close button are in the page header, as with one image always
  await expect(A.getByTestId('image-title')).toHaveCount(0);
  await expect(page.getByTestId('image-title')).toContainText('alpha.erofs');
  await page.getByTestId('pane-close').click();
  await expect(page.getByTestId('welcome')).toBeVisible();
  await expect.poll(() => inspectorWorkers(page)).toBe(0);
});

test('a drop on a pane replaces it; a drop on "open beside" adds a pane', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(alpha);
  await expect(entry(pane(page, 'alpha.erofs'), 'etc')).toBeVisible();
  const dropOf = (name: string, file: string) => page.evaluateHandle(([n, data]) => {
    const d = new DataTransfer();
    d.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], n));
    return d;
  }, [name, readFileSync(file).toString('base64')] as const);

  let dt = await dropOf('beta.erofs', beta);
  await page.locator('body').dispatchEvent('dragover', { dataTransfer: dt });
  await expect(page.getByTestId('drop-beside')).toBeVisible();
  await expect(pane(page, 'alpha.erofs').getByTestId('drop-replace')).toContainText('alpha.erofs');
  await page.screenshot({ path: join(SHOTS, 'multi-drop-targets.png') });
  await page.getByTestId('drop-beside').dispatchEvent('drop', { dataTransfer: dt });
  await expect(page.getByTestId('pane')).toHaveCount(2);
  await expect(entry(pane(page, 'beta.erofs'), 'usr')).toBeVisible();
  await expect(page.getByTestId('drop-beside')).toHaveCount(0);

  // dropped on the left pane: it becomes the new image, the right one stays
  dt = await dropOf('gamma.erofs', alpha);
  await page.locator('body').dispatchEvent('dragover', { dataTransfer: dt });
  await pane(page, 'alpha.erofs').getByTestId('drop-replace').dispatchEvent('drop', { dataTransfer: dt });
  await expect(pane(page, 'gamma.erofs')).toBeVisible();
  await expect(pane(page, 'alpha.erofs')).toHaveCount(0);
  await expect(page.getByTestId('pane')).toHaveCount(2);
  expect(await page.getByTestId('pane').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-name')))).toEqual(['gamma.erofs', 'beta.erofs']);
  await expect.poll(() => inspectorWorkers(page)).toBe(2);
});

test('the link lists every pane opened from a sample, and a reload reopens them in place', async ({ page }) => {
  await page.goto('/#sample=sample.erofs&path=/etc');
  const first = pane(page, 'sample.erofs');
  await expect(entry(first, 'os-release')).toBeVisible();
  await page.getByText('Samples & URL').click();
  await page.getByTestId('menu-sample').filter({ hasText: 'rafs-v6-zstd.boot' }).locator('..').getByTestId('menu-sample-beside').click();
  const second = pane(page, 'rafs-v6-zstd.boot');
  await expect(entry(second, 'lib.rs')).toBeVisible();
  await entry(second, 'lib.rs').click();
  await expect(second.getByTestId('text')).toContainText('SPDX-License-Identifier');
  await expect(page).toHaveURL(/#sample=sample\.erofs&path=\/etc&sample=nydus\/rafs-v6-zstd\.boot&path=\/lib\.rs$/);
  await first.getByTestId('tab-structure').click();
  await expect(page).toHaveURL(/#sample=sample\.erofs&path=\/etc&view=structure&sample=nydus/);

  await page.reload();
  await expect(page.getByTestId('pane')).toHaveCount(2);
  await expect(pane(page, 'sample.erofs').getByTestId('structure-view')).toBeVisible();
  await expect(pane(page, 'rafs-v6-zstd.boot').getByTestId('text')).toContainText('SPDX-License-Identifier');
  expect(await page.getByTestId('pane').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-name')))).toEqual(['sample.erofs', 'rafs-v6-zstd.boot']);

  // a picked file cannot come back from a link: it is left out, the others stay
  await openBeside(page, alpha);
  await expect(page.getByTestId('pane')).toHaveCount(3);
  await pane(page, 'sample.erofs').getByTestId('pane-close').click();
  await expect(page).toHaveURL(/#sample=nydus\/rafs-v6-zstd\.boot&path=\/lib\.rs$/);
});

test('the Compare tab offers the image of the other pane and diffs it in one click', async ({ page }) => {
  const { A } = await openAlphaAndBeta(page);
  await A.getByTestId('tab-compare').click();
  const offer = A.getByTestId('compare-pane');
  await expect(offer).toHaveCount(1);
  await expect(offer).toHaveText('Compare with beta.erofs');
  await offer.click();
  await expect(A.getByTestId('compare-other')).toHaveText('beta.erofs');
  // alpha: /alpha.txt /etc /etc/hostname /etc/conf.d /etc/conf.d/net; beta: /readme /usr /usr/share /usr/share/beta.txt
  await expect(A.getByTestId('count-removed')).toHaveText('5');
  await expect(A.getByTestId('count-added')).toHaveText('4');
  await expect(A.locator('[data-testid=compare-row][data-path="/usr/share/beta.txt"]')).toHaveAttribute('data-change', 'added');
  await page.screenshot({ path: join(SHOTS, 'multi-compare-panes.png') });
  // the other pane is untouched, and closing it takes the offer away
  await expect(pane(page, 'beta.erofs').getByTestId('tab-files')).toHaveAttribute('aria-pressed', 'true');
  await pane(page, 'beta.erofs').getByTestId('pane-close').click();
  await expect(A.getByTestId('compare-pane')).toHaveCount(0);
});
