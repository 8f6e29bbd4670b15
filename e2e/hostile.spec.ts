// Hostile images in the page: the same crafted images the CLI is tested with (test/helpers/craft.ts)
// are opened in Chromium. Each must end in an error box naming the on-disk structure, never in an
// unhandled exception, and the tab must keep drawing frames (no freeze of a second or more) while
// the worker meets the damage.
import { test, expect, type Page } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { amplifiedErofs, gzipBombRafs } from '../test/helpers/craft.ts';
import { failOnPageErrors } from './helpers/page-errors.ts';
import { fmt, startHeartbeat, stopHeartbeat } from './helpers/heartbeat.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const NO_FREEZE = 1000;
const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

// the worker's typed errors are shown, not thrown: only they may reach the console
failOnPageErrors(test, /FormatError|Failed to load resource/);

let work: string;
let amplified: string;
let bombBoot: string;
let bombBlob: string;
let truncated: string;
test.beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-hostile-'));
  amplified = join(work, 'amplified.erofs');
  writeFileSync(amplified, await amplifiedErofs(20000));
  const bomb = await gzipBombRafs('rafs-v6');
  mkdirSync(join(work, 'bomb'));
  bombBoot = join(work, 'bomb', 'image.boot');
  bombBlob = join(work, 'bomb', bomb.blobId!);
  writeFileSync(bombBoot, bomb.image);
  writeFileSync(bombBlob, bomb.blob!);
  // an image cut short inside its inode area: the superblock promises blocks the file lacks
  const whole = await amplifiedErofs(300);
  truncated = join(work, 'truncated.erofs');
  writeFileSync(truncated, whole.subarray(0, 4096 + 2048));
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));

test('directories sharing one block run: listing and a whole-image search end in an error naming erofs.dirent, the tab keeps drawing', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(amplified);
  await expect(entry(page, 'big')).toBeVisible();
  await startHeartbeat(page);
  await entry(page, 'big').click();
  await expect(entry(page, 'd000000')).toBeVisible();
  // the first small directory shares /big's blocks: reading it is refused as damage
  await entry(page, 'd000000').click();
  await expect(page.getByTestId('error').first()).toContainText('erofs.dirent');
  await expect(page.getByTestId('error').first()).toContainText('directories share their entries');
  await page.screenshot({ path: join(SHOTS, 'hostile-01-shared-directory-blocks.png') });
  // a search walks every directory: it stops at the damage instead of listing 400 million entries
  await page.getByRole('button', { name: 'Dismiss' }).first().click();
  await expect(page.getByTestId('error')).toHaveCount(0);
  await page.getByTestId('search').fill('nothing-matches-this');
  await expect(page.getByTestId('search-state')).toContainText('failed', { timeout: 30_000 });
  await expect(page.getByTestId('error').first()).toContainText('Search failed');
  await expect(page.getByTestId('error').first()).toContainText('directories share their entries');
  await page.screenshot({ path: join(SHOTS, 'hostile-02-search-stops.png') });
  const beat = await stopHeartbeat(page);
  console.log(`shared directory blocks: ${fmt(beat)}`);
  expect(beat.frames).toBeGreaterThan(5);
  expect(beat.max).toBeLessThan(NO_FREEZE);
});

test('a RAFS chunk that inflates far past its declared 64 KiB: the file view names rafs.chunk, the tab keeps drawing', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles([bombBoot, bombBlob]);
  await expect(entry(page, 'f')).toBeVisible();
  await startHeartbeat(page);
  await entry(page, 'f').click();
  const err = page.getByTestId('error').first();
  await expect(err).toContainText('rafs.chunk');
  await expect(err).toContainText(/gzip/);
  await page.screenshot({ path: join(SHOTS, 'hostile-03-gzip-bomb.png') });
  const beat = await stopHeartbeat(page);
  console.log(`gzip bomb: ${fmt(beat)}`);
  expect(beat.max).toBeLessThan(NO_FREEZE);
});

test('an image cut short: the error names the structure and byte offset, the page stays usable', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(truncated);
  await expect(page.getByTestId('error').first()).toContainText(/erofs\.\w+ at byte \d+|IoError/);
  await page.screenshot({ path: join(SHOTS, 'hostile-04-truncated.png') });
  // the page still opens a good image afterwards
  await page.getByTestId('file-input').setInputFiles(amplified);
  await expect(entry(page, 'big')).toBeVisible();
});
