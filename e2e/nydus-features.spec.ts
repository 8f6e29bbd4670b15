// The page's Nydus views on images built by `layerscope build` (issue 16): an encrypted batch image
// (AES-128-XTS, decrypted in the browser's worker by our own AES) shows, in the blob view, the
// blob's BlobFeatures names, that it is encrypted, its batch contexts, and per chunk the flags and
// the batch context; a tarfs bootstrap opened with its tar shows the tar as its blob.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');
let work: string;
let enc: { boot: string; blob: string };
let tarfs: { boot: string; tar: string };
let zran: { boot: string; gz: string; meta: string };

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-nydus-'));
  const t = join(work, 'tree');
  mkdirSync(join(t, 'etc'), { recursive: true });
  mkdirSync(join(t, 'small'));
  writeFileSync(join(t, 'etc/motd'), 'welcome to the encrypted layer\n'.repeat(40));
  for (let i = 0; i < 12; i++) writeFileSync(join(t, 'small', `note${i}.txt`), `small note ${i}\n`.repeat(5 + i * 30));
  writeFileSync(join(t, 'big.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >>> 9)) & 0xff)));
  const e = join(work, 'enc');
  mkdirSync(e);
  execFileSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', '--encrypt', '--batch-size', '65536', '--chunk-size', '131072', t, join(e, 'layer.boot'), '--blob-dir', e]);
  enc = { boot: join(e, 'layer.boot'), blob: join(e, readdirSync(e).find((n) => /^[0-9a-f]{64}$/.test(n))!) };
  const tar = join(work, 'layer.tar');
  execFileSync('tar', ['--format=pax', '--numeric-owner', '-cf', tar, '-C', t, '.']);
  const tf = join(work, 'tarfs');
  mkdirSync(tf);
  execFileSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', '--type', 'tar-tarfs', tar, join(tf, 'layer.boot'), '--blob-dir', tf]);
  tarfs = { boot: join(tf, 'layer.boot'), tar };
  // ZRAN (another engineer's reader): the page shows its contexts the same way
  const z = join(work, 'zran');
  mkdirSync(z);
  const gz = join(z, 'layer.tar.gz');
  writeFileSync(gz, execFileSync('gzip', ['-c', tar]));
  execFileSync(process.execPath, [CLI, 'build', '--format', 'rafs-v6', '--type', 'targz-ref', gz, join(z, 'layer.boot'), '--blob-dir', z]);
  zran = { boot: join(z, 'layer.boot'), gz, meta: join(z, readdirSync(z).find((n) => /^[0-9a-f]{64}$/.test(n))!) };
});

test.afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

failOnPageErrors(test);

const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

test('an encrypted batch image: chunk flags and batch context, blob features, encryption and contexts', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles([enc.boot, enc.blob]);
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await entry(page, 'small').click();
  await entry(page, 'note3.txt').click();
  // the content was decrypted (AES-128-XTS) and decompressed in the page
  await expect(page.getByTestId('content')).toContainText('small note 3');
  await expect(page.getByTestId('content').getByTestId('error')).toHaveCount(0);
  const row = page.getByTestId('chunk-row').first();
  await expect(row.getByTestId('chunk-flags')).toContainText('encr');
  await expect(page.getByTestId('chunk-context').first()).toContainText(/batch \d+: this chunk is bytes [\d,]+–[\d,]+ of/);
  await page.screenshot({ path: join(SHOTS, 'nydus-01-encrypted-batch-chunk.png') });

  await page.getByTestId('tab-blobs').click();
  const blob = page.getByTestId('blob-row');
  await expect(blob).toHaveCount(1);
  await expect(blob.getByTestId('blob-encryption')).toContainText('encrypted');
  await expect(blob.getByTestId('blob-encryption')).toContainText('AES-128-XTS');
  for (const f of ['CHUNK_INFO_V2', 'BATCH', 'ENCRYPTED', 'HAS_TOC', 'CAP_TAR_TOC']) await expect(blob.getByTestId('blob-features')).toContainText(f);
  await expect(blob.getByTestId('blob-contexts')).toContainText(/\d+ batch contexts?/);
  await page.screenshot({ path: join(SHOTS, 'nydus-02-encrypted-batch-blobs.png') });
});

test('a ZRAN image (targz-ref): the chunk shows its inflate context, the blob its ZRAN contexts', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles([zran.boot, zran.gz, zran.meta]);
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await entry(page, 'big.bin').click();
  await expect(page.getByTestId('chunk-row').first()).toBeVisible();
  await expect(page.getByTestId('chunk-context').first()).toContainText(/ZRAN context \d+: bytes [\d,]+–[\d,]+ of its [\d,]+-byte output; inflate gzip bytes/);
  await expect(page.getByTestId('content').getByTestId('error')).toHaveCount(0);
  await page.screenshot({ path: join(SHOTS, 'nydus-05-zran-chunk.png') });
  await page.getByTestId('tab-blobs').click();
  const blob = page.getByTestId('blob-row');
  await expect(blob.getByTestId('blob-features')).toContainText('ZRAN');
  await expect(blob.getByTestId('blob-contexts')).toContainText(/\d+ ZRAN inflate contexts?/);
});

test('a tarfs bootstrap with its tar: the tar is the blob, files read from it', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles([tarfs.boot, tarfs.tar]);
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await entry(page, 'etc').click();
  await entry(page, 'motd').click();
  await expect(page.getByTestId('content')).toContainText('welcome to the encrypted layer');
  await page.getByTestId('tab-blobs').click();
  const blob = page.getByTestId('blob-row');
  await expect(blob.getByTestId('blob-tarfs')).toBeVisible();
  await expect(blob.getByTestId('blob-features')).toContainText('TARFS');
  await expect(blob.getByTestId('blob-encryption')).toContainText('not encrypted');
  await expect(blob).toContainText('layer.tar');
  await page.screenshot({ path: join(SHOTS, 'nydus-03-tarfs-blobs.png') });
});

function cli(...args: string[]): { status: number; out: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout + r.stderr };
}

async function download(page: Page, testId: string, to: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = join(work, to);
  await dl.saveAs(path);
  return path;
}

async function build(page: Page): Promise<void> {
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('rafs-output').or(page.getByTestId('error'))).toBeVisible({ timeout: 30_000 });
  if (await page.getByTestId('error').isVisible()) throw new Error(`build failed: ${await page.getByTestId('error').textContent()}`);
}

test('Build view: batch size and encryption, then tarfs over the dropped tar; the CLI checks both', async ({ page }) => {
  await page.goto('/#build');
  await expect(page.getByTestId('build-view')).toBeVisible();
  await page.getByTestId('build-file-input').setInputFiles(tarfs.tar);
  await expect(page.getByTestId('source-summary')).toContainText('files');
  await page.getByTestId('format-rafs').click();
  await page.getByTestId('rafs-chunk').selectOption({ label: '128K' });
  await page.getByTestId('rafs-batch').selectOption({ label: '64K' });
  await page.getByTestId('rafs-encrypt').check();
  await expect(page.getByTestId('build-command')).toContainText('--chunk-size 131072 --batch-size 65536 --encrypt');
  await build(page);
  const boot = await download(page, 'download-bootstrap', 'page-enc.boot');
  const blobId = (await page.getByTestId('rafs-blob-id').textContent())!.trim();
  const blob = await download(page, 'download-blob', blobId);
  const c1 = cli('check', boot, '--blob', blob, '--json');
  expect(c1.status, c1.out).toBe(0);
  const info = JSON.parse(cli('inspect', boot, '--blob', blob, '--json').out) as Record<string, unknown>;
  expect(JSON.stringify(info)).toContain('ENCRYPTED');

  await page.getByTestId('rafs-encrypt').uncheck();
  await page.getByTestId('rafs-tarfs').check();
  await expect(page.getByTestId('rafs-batch')).toBeDisabled();
  await expect(page.getByTestId('build-command')).toContainText('--type tar-tarfs --blob-dir blobs --chunk-size 131072');
  await build(page);
  await expect(page.getByTestId('download-blob')).toHaveCount(0);
  await page.screenshot({ path: join(SHOTS, 'nydus-04-build-tarfs.png'), fullPage: true });
  const tboot = await download(page, 'download-bootstrap', 'page-tarfs.boot');
  const c2 = cli('check', tboot, '--blob', tarfs.tar);
  expect(c2.status, c2.out).toBe(0);
});
