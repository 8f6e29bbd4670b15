// Compare two images in the page: two EROFS images made by mkfs.erofs from trees that differ by one
// added file, one removed file, one same-size content edit and one chmod.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const T = 1600000000;

let work: string;
let imageA: string;
let imageB: string;

/** every entry of a tree gets the same mtime, so only the intended differences remain */
function pinTimes(tree: string, rel: string[]): void {
  for (const r of rel) utimesSync(join(tree, r), T, T);
}

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-compare-'));
  const a = join(work, 'a');
  mkdirSync(join(a, 'etc'), { recursive: true });
  writeFileSync(join(a, 'etc/keep.conf'), 'unchanged in both images\n');
  writeFileSync(join(a, 'removed.txt'), 'only in A\n');
  writeFileSync(join(a, 'edit.txt'), 'version one\n');
  writeFileSync(join(a, 'mode.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(a, 'mode.sh'), 0o644);
  pinTimes(a, ['etc/keep.conf', 'removed.txt', 'edit.txt', 'mode.sh', 'etc', '.']);

  const b = join(work, 'b');
  cpSync(a, b, { recursive: true, preserveTimestamps: true });
  unlinkSync(join(b, 'removed.txt'));
  writeFileSync(join(b, 'added.txt'), 'only in B\n');
  writeFileSync(join(b, 'edit.txt'), 'version two\n'); // same length as "version one"
  chmodSync(join(b, 'mode.sh'), 0o755);
  pinTimes(b, ['etc/keep.conf', 'added.txt', 'edit.txt', 'mode.sh', 'etc', '.']);

  imageA = join(work, 'a.erofs');
  imageB = join(work, 'b.erofs');
  for (const [img, tree] of [[imageA, a], [imageB, b]] as const) execFileSync('mkfs.erofs', ['-T', String(T), '--all-root', '--quiet', img, tree]);
});

test.afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

failOnPageErrors(test);

const row = (page: Page, path: string) => page.locator(`[data-testid=compare-row][data-path="${path}"]`);
const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

test('compare two EROFS images: added, removed, content and mode changes', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(imageA);
  await expect(page.getByTestId('format')).toHaveText(/erofs/i);
  await expect(entry(page, 'removed.txt')).toBeVisible();

  await page.getByTestId('tab-compare').click();
  await expect(page.getByTestId('compare-view')).toBeVisible();
  await page.getByTestId('compare-input').setInputFiles(imageB);

  await expect(page.getByTestId('count-added')).toHaveText('1');
  await expect(page.getByTestId('count-removed')).toHaveText('1');
  await expect(page.getByTestId('count-changed')).toHaveText('2');
  // /, /etc, /etc/keep.conf
  await expect(page.getByTestId('count-unchanged')).toHaveText('3');
  await expect(page.getByTestId('shared-chunks')).toHaveCount(0);

  const rows = page.getByTestId('compare-row');
  await expect(rows).toHaveCount(4);
  expect(await rows.evaluateAll((rs) => rs.map((r) => `${r.getAttribute('data-change')} ${r.getAttribute('data-path')}`))).toEqual([
    'added /added.txt',
    'changed /edit.txt',
    'changed /mode.sh',
    'removed /removed.txt',
  ]);
  await expect(row(page, '/added.txt').getByTestId('compare-mark')).toHaveText('+');
  await expect(row(page, '/removed.txt').getByTestId('compare-mark')).toHaveText('−');
  await expect(row(page, '/edit.txt').getByTestId('compare-mark')).toHaveText('M');
  await expect(row(page, '/mode.sh').getByTestId('compare-mark')).toHaveText('M');
  await expect(row(page, '/edit.txt').getByTestId('compare-fields')).toHaveText('content');
  await expect(row(page, '/mode.sh').getByTestId('compare-fields')).toHaveText('mode');
  await expect(row(page, '/added.txt').getByTestId('compare-sizes')).toHaveText('10 B');
  // markers are coloured by kind
  const colour = (p: string) => row(page, p).getByTestId('compare-mark').evaluate((el) => getComputedStyle(el).color);
  const [add, del, mod] = [await colour('/added.txt'), await colour('/removed.txt'), await colour('/edit.txt')];
  expect(new Set([add, del, mod]).size).toBe(3);
  // an added path is not in this image: no link
  await expect(row(page, '/added.txt').getByRole('button')).toHaveCount(0);
  // the same comparison from a terminal
  await expect(page.getByTestId('cli-line')).toHaveText('layerscope diff a.erofs b.erofs');
  await page.screenshot({ path: join(SHOTS, 'compare-01.png') });

  // a path of this image opens in Files
  await row(page, '/edit.txt').getByRole('button', { name: '/edit.txt' }).click();
  await expect(page.getByTestId('tab-files')).toHaveAttribute('aria-pressed', 'true');
  await expect(entry(page, 'edit.txt')).toHaveClass(/selected/);
});
