// Compare two Nydus RAFS v6 images in the page: both built by our CLI (each with its own data blob)
// from trees that share a library byte for byte, share all but the last chunk of another, and differ
// by one added, one removed and one edited file. The counts and the shared-chunk numbers on the page
// must equal what `layerscope diff A B --json` reports for the same pair.
import { test, expect } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');
const T = 1600000000;

interface CliDiff {
  added: number;
  removed: number;
  changed: number;
  unchanged: number;
  entries: { path: string; change: string; fields?: string[] }[];
  sharedChunks?: { shared: number; sharedBytes: number; chunksA: number; chunksB: number };
}

let work: string;
const files: Record<'a' | 'b', string[]> = { a: [], b: [] };
let expected: CliDiff;

/** every path of a tree gets the same mtime, so only the intended differences remain */
function pinTimes(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) pinTimes(p);
    utimesSync(p, T, T);
  }
  utimesSync(dir, T, T);
}

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-cmp-nydus-'));
  const a = join(work, 'a');
  mkdirSync(join(a, 'usr/lib'), { recursive: true });
  mkdirSync(join(a, 'etc'));
  writeFileSync(join(a, 'usr/lib/libshared.so'), randomBytes(300_000)); // 5 chunks of 64 KiB, all shared
  const part = randomBytes(200_000);
  writeFileSync(join(a, 'usr/lib/libpart.so'), part); // 4 chunks, the last one differs in B
  writeFileSync(join(a, 'etc/keep.conf'), 'unchanged in both images\n');
  writeFileSync(join(a, 'removed.txt'), 'only in A\n');
  writeFileSync(join(a, 'edit.txt'), 'version one\n');
  const b = join(work, 'b');
  cpSync(a, b, { recursive: true });
  rmSync(join(b, 'removed.txt'));
  writeFileSync(join(b, 'added.txt'), 'only in B\n');
  writeFileSync(join(b, 'edit.txt'), 'version two\n');
  part.fill(7, part.length - 100);
  writeFileSync(join(b, 'usr/lib/libpart.so'), part);
  pinTimes(a);
  pinTimes(b);
  for (const x of ['a', 'b'] as const) {
    const blobs = join(work, `${x}-blobs`);
    const boot = join(work, `${x}.boot`);
    execFileSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', join(work, x), boot, '--blob-dir', blobs, '--chunk-size', '65536'], { stdio: 'pipe' });
    files[x] = [boot, ...readdirSync(blobs).map((f) => join(blobs, f))];
    expect(files[x]).toHaveLength(2);
  }
  // exit status 2: the images differ
  const r = spawnSync(process.execPath, [CLI, 'diff', files.a[0]!, files.b[0]!, '--blob', files.a[1]!, '--blob', files.b[1]!, '--json'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(2);
  expected = JSON.parse(r.stdout) as CliDiff;
});

test.afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

failOnPageErrors(test);

test('compare two Nydus images: counts and shared chunks equal layerscope diff --json', async ({ page }) => {
  // what the trees were made to differ by, as the CLI sees it
  expect(expected.entries.map((e) => `${e.change} ${e.path}`)).toEqual(['added /added.txt', 'changed /edit.txt', 'removed /removed.txt', 'changed /usr/lib/libpart.so']);
  const sc = expected.sharedChunks!;
  expect(sc.shared).toBe(5 + 3 + 1); // libshared.so, the first 3 chunks of libpart.so, keep.conf
  expect(sc.chunksA).toBeGreaterThan(sc.shared);

  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(files.a);
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await expect(page.getByTestId('image-title')).toContainText('+1 blob');
  await page.getByTestId('tab-compare').click();
  await page.getByTestId('compare-input').setInputFiles(files.b);
  await expect(page.getByTestId('compare-other')).toHaveText('b.boot');

  await expect(page.getByTestId('count-added')).toHaveText(String(expected.added));
  await expect(page.getByTestId('count-removed')).toHaveText(String(expected.removed));
  await expect(page.getByTestId('count-changed')).toHaveText(String(expected.changed));
  await expect(page.getByTestId('count-unchanged')).toHaveText(String(expected.unchanged));
  const card = page.getByTestId('shared-chunks');
  await expect(card).toBeVisible();
  await expect(card.getByTestId('shared-count')).toHaveText(sc.shared.toLocaleString('en-US'));
  await expect(card.getByTestId('shared-bytes')).toHaveAttribute('title', `${sc.sharedBytes.toLocaleString('en-US')} bytes`);
  await expect(card.getByTestId('shared-of')).toHaveText(`of ${sc.chunksA.toLocaleString('en-US')} / ${sc.chunksB.toLocaleString('en-US')}`);

  const rows = page.getByTestId('compare-row');
  await expect(rows).toHaveCount(expected.entries.length);
  const shown = await rows.evaluateAll((rs) =>
    rs.map((r) => ({ change: r.getAttribute('data-change'), path: r.getAttribute('data-path'), fields: r.querySelector('[data-testid=compare-fields]')?.textContent ?? '' })),
  );
  expect(shown).toEqual(expected.entries.map((e) => ({ change: e.change, path: e.path, fields: e.fields?.join(', ') ?? '' })));
  await expect(page.getByTestId('cli-line')).toHaveText(/^layerscope diff a\.boot b\.boot/);
  await page.screenshot({ path: join(SHOTS, 'compare-02-nydus.png') });
});
