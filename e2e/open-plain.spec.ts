// Not every drop is an image: a tar or tar.gz layer, and a folder of plain files, open in the
// inspector as the tree they hold (recognised by magic, never by name).
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPaths } from './helpers/drop.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

let work: string;
let tree: string;
test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-plain-'));
  tree = join(work, 'layer');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'etc/os-release'), 'ID=layerscope\nNAME="Plain tree"\n');
  writeFileSync(join(tree, 'usr/bin/tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(tree, 'usr/bin/tool'), 0o755);
  symlinkSync('usr/bin/tool', join(tree, 'tool-link'));
  // named .bin on purpose: the format comes from the bytes
  execFileSync('tar', ['-C', tree, '--owner=1000', '--group=1000', '-czf', join(work, 'layer-gz.bin'), '.']);
  execFileSync('tar', ['-C', tree, '--format=pax', '-cf', join(work, 'layer.tar'), '.']);
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));

for (const [file, label] of [['layer-gz.bin', 'tar.gz'], ['layer.tar', 'tar']] as const) {
  test(`a ${label} layer opens as its tree: modes, owners, symlinks, content`, async ({ page }) => {
    await page.goto('/');
    await page.getByTestId('file-input').setInputFiles(join(work, file));
    await expect(page.getByTestId('format')).toHaveText(/tree/i);
    await expect(entry(page, 'tool-link')).toBeVisible();
    await entry(page, 'usr').click();
    await entry(page, 'bin').click();
    // the mode survives a tar (a browser folder would say 0644)
    await expect(entry(page, 'tool')).toContainText('rwxr-xr-x');
    await entry(page, 'tool').click();
    await expect(page.getByTestId('text')).toContainText('echo tool');
    await page.screenshot({ path: join(SHOTS, `plain-${label.replace('.', '')}.png`) });
  });
}

test('a dropped folder without an image opens as a plain tree', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('welcome')).toBeVisible();
  await dropPaths(page, [join(tree, 'etc'), join(tree, 'usr')]);
  await expect(page.getByTestId('format')).toHaveText(/tree/i);
  await entry(page, 'etc').click();
  await entry(page, 'os-release').click();
  await expect(page.getByTestId('text')).toContainText('NAME="Plain tree"');
  await page.screenshot({ path: join(SHOTS, 'plain-folder.png') });
});
