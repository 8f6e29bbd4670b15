// composefs in the page: a golden image (inline files, devices, whiteouts, xattrs), and an image built
// by the CLI dropped as a real folder together with its object store, so external files read.
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPaths } from './helpers/drop.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');
const GOLDEN = [join(import.meta.dirname, '../../shared/fixtures/composefs/golden'), '/work/shared/fixtures/composefs/golden'];
const entry = (page: import('@playwright/test').Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

let work: string;
test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-cfs-'));
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));

test('a golden composefs image opens: inline content, devices, whiteouts', async ({ page }) => {
  const { existsSync } = await import('node:fs');
  const golden = GOLDEN.find((d) => existsSync(d))!;
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(golden, 'special.cfs'));
  await expect(page.getByTestId('format')).toHaveText(/composefs/i);
  await expect(entry(page, 'chardev')).toBeVisible();
  await expect(entry(page, 'whiteout')).toBeVisible();
  await entry(page, 'inline').click();
  await expect(page.getByTestId('text')).toHaveText('FOOBAR\nINAFILE\n');
  await page.screenshot({ path: join(SHOTS, 'cfs-01-golden.png') });
});

test('an image dropped with its object store reads external files; without it the missing object is named', async ({ page }) => {
  const src = join(work, 'src');
  mkdirSync(join(src, 'etc'), { recursive: true });
  const big = 'external content, stored as a backing object\n'.repeat(100);
  writeFileSync(join(src, 'etc/big.conf'), big);
  writeFileSync(join(src, 'small'), 'inline\n');
  const drop = join(work, 'drop');
  mkdirSync(drop);
  execFileSync(process.execPath, [CLI, 'build', '--format', 'composefs', src, join(drop, 'image.cfs'), '--digest-store', join(drop, 'objects')]);
  await page.goto('/');
  await expect(page.getByTestId('welcome')).toBeVisible();
  await dropPaths(page, [drop]);
  await expect(page.getByTestId('format')).toHaveText(/composefs/i);
  await entry(page, 'etc').click();
  await entry(page, 'big.conf').click();
  await expect(page.getByTestId('text')).toContainText('external content, stored as a backing object');
  await page.screenshot({ path: join(SHOTS, 'cfs-02-object-store.png') });

  // the image alone: the listing works, reading the external file says which object is missing
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(drop, 'image.cfs'));
  await entry(page, 'etc').click();
  await entry(page, 'big.conf').click();
  await expect(page.getByText(/backing object [0-9a-f]{2}\/[0-9a-f]{62} \(no object store given\)/).first()).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'cfs-03-missing-object.png') });
});
