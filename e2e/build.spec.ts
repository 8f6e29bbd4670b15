// The Build view on real inputs: a folder dropped for real (CDP Input.dispatchDragEvent), tars with
// metadata and whiteouts; EROFS and composefs images built in the worker, downloaded or saved
// through the File System Access API (OPFS stands in for the pickers), then checked with
// fsck.erofs (and its --extract), `fsverity digest`, and the layerscope CLI.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, lstatSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPaths } from './helpers/drop.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');

/** deterministic pseudo-random bytes */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** path → content of every regular file under `dir`, and the list of directories */
function snapshot(dir: string): { files: Map<string, Buffer>; dirs: string[] } {
  const files = new Map<string, Buffer>();
  const dirs: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        dirs.push(r);
        walk(p, r);
      } else if (st.isFile()) files.set(r, readFileSync(p));
    }
  };
  walk(dir, '');
  return { files, dirs };
}

function cli(...args: string[]): { status: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

let work: string;
let tree: string;
let big: string;
let layer1: string;
let layer2: string;
let metaTar: string;

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-build-'));
  tree = join(work, 'srcdir');
  mkdirSync(join(tree, 'etc/conf.d'), { recursive: true });
  mkdirSync(join(tree, 'usr/share/empty-leaf'), { recursive: true });
  mkdirSync(join(tree, 'empty'));
  mkdirSync(join(tree, 'var/lib/data'), { recursive: true });
  writeFileSync(join(tree, 'hello.txt'), 'Hello from a dropped folder\n');
  writeFileSync(join(tree, 'zero.bin'), '');
  writeFileSync(join(tree, 'etc/tiny'), 'x');
  writeFileSync(join(tree, 'etc/conf.d/exactly-4096'), bytes(4096, 7));
  writeFileSync(join(tree, 'etc/conf.d/one-more'), bytes(4097, 8));
  writeFileSync(join(tree, 'var/lib/data/blob-300k'), bytes(300_000, 9));
  writeFileSync(join(tree, 'var/lib/data/dup-a'), bytes(70_000, 10));
  writeFileSync(join(tree, 'var/lib/data/dup-b'), bytes(70_000, 10));
  writeFileSync(join(tree, 'var/lib/data/big-3m'), bytes(3 * 1024 * 1024 + 123, 11));
  writeFileSync(join(tree, 'usr/share/sixty-four'), bytes(64, 12));
  writeFileSync(join(tree, 'usr/share/sixty-five'), bytes(65, 13));

  // big enough that a build is still running when Cancel is pressed (sparse: instant to make)
  big = join(work, 'bigdir');
  mkdirSync(big);
  for (let i = 0; i < 4; i++) execFileSync('truncate', ['-s', '1G', join(big, `huge-${i}.img`)]);

  // a tar keeps what a browser folder cannot: modes, owners, symlinks
  const meta = join(work, 'meta');
  mkdirSync(join(meta, 'bin'), { recursive: true });
  writeFileSync(join(meta, 'bin/tool'), '#!/bin/sh\necho tool\n');
  execFileSync('chmod', ['0750', join(meta, 'bin/tool')]);
  execFileSync('ln', ['-s', 'bin/tool', join(meta, 'tool-link')]);
  metaTar = join(work, 'meta.tar.gz');
  execFileSync('tar', ['-czf', metaTar, '--owner=1234', '--group=5678', '--numeric-owner', '-C', meta, '.']);

  // two layers: the second removes a file (OCI whiteout) and makes a directory opaque
  const l1 = join(work, 'l1');
  mkdirSync(join(l1, 'app/cache'), { recursive: true });
  writeFileSync(join(l1, 'app/keep.txt'), 'kept\n');
  writeFileSync(join(l1, 'app/remove-me.txt'), 'gone in layer 2\n');
  writeFileSync(join(l1, 'app/cache/old'), 'old cache\n');
  layer1 = join(work, 'layer1.tar');
  execFileSync('tar', ['-cf', layer1, '-C', l1, '.']);
  const l2 = join(work, 'l2');
  mkdirSync(join(l2, 'app/cache'), { recursive: true });
  writeFileSync(join(l2, 'app/.wh.remove-me.txt'), '');
  writeFileSync(join(l2, 'app/cache/.wh..wh..opq'), '');
  writeFileSync(join(l2, 'app/cache/new'), 'new cache\n');
  writeFileSync(join(l2, 'app/added.txt'), 'added\n');
  layer2 = join(work, 'layer2.tar');
  execFileSync('tar', ['-cf', layer2, '-C', l2, '.']);
});

test.afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `build-${name}.png`), fullPage: true });
}

async function openBuild(page: Page): Promise<void> {
  await page.goto('/#build');
  await expect(page.getByTestId('build-view')).toBeVisible();
}

/** a real OS-level folder drop onto the build view */
async function dropFolder(page: Page, dir: string): Promise<void> {
  const box = (await page.getByTestId('build-drop').boundingBox())!;
  await dropPaths(page, [dir], { x: box.x + box.width / 2, y: box.y + box.height / 2 });
}

/** a file from the page's origin-private file system (where the mocked pickers put things) */
async function opfsFile(page: Page, name: string): Promise<Buffer> {
  const b64 = await page.evaluate(async (n) => {
    const f = await (await (await navigator.storage.getDirectory()).getFileHandle(n)).getFile();
    const url = await new Promise<string>((ok, fail) => {
      const r = new FileReader();
      r.onload = () => ok(r.result as string);
      r.onerror = () => fail(r.error);
      r.readAsDataURL(f);
    });
    return url.slice(url.indexOf(',') + 1);
  }, name);
  return Buffer.from(b64, 'base64');
}

/** click Build and wait for `what`; a build error fails the test with its message */
async function build(page: Page, what = 'build-result'): Promise<void> {
  await page.getByTestId('build-button').click();
  const done = page.getByTestId(what).first();
  await expect(done.or(page.getByTestId('error'))).toBeVisible({ timeout: 30_000 });
  if (await page.getByTestId('error').isVisible()) throw new Error(`build failed: ${await page.getByTestId('error').textContent()}`);
}

async function download(page: Page, testId: string, to: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = join(work, to);
  await dl.saveAs(path);
  return path;
}

function expectExtractMatches(image: string, source: string, name: string): void {
  const out = join(work, `x-${name}`);
  execFileSync('fsck.erofs', [`--extract=${out}`, image], { stdio: 'pipe' });
  const want = snapshot(source);
  const got = snapshot(out);
  expect([...got.files.keys()]).toEqual([...want.files.keys()]);
  for (const [p, b] of want.files) expect(got.files.get(p)!.equals(b), `content of ${p}`).toBe(true);
  expect(got.dirs).toEqual(want.dirs); // empty directories included
}

test('folder drop → EROFS: summary, progress, download, fsck.erofs and --extract', async ({ page }) => {
  await openBuild(page);
  await shot(page, '01-empty');
  await dropFolder(page, tree);
  const summary = page.getByTestId('source-summary');
  await expect(summary).toContainText('11 files');
  await expect(summary).toContainText('9 dirs'); // etc, etc/conf.d, usr, usr/share, usr/share/empty-leaf, empty, var, var/lib, var/lib/data
  await expect(page.getByTestId('metadata-note')).toContainText('0644');
  await page.getByTestId('erofs-uuid').fill('01234567-89ab-cdef-0123-456789abcdef');
  await page.getByTestId('erofs-time').fill('1700000000');
  await expect(page.getByTestId('build-command')).toHaveText('layerscope build --format erofs --uuid 01234567-89ab-cdef-0123-456789abcdef -T 1700000000 srcdir/ srcdir.erofs');
  await shot(page, '02-source');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result')).toBeVisible();
  await expect(page.getByTestId('build-result')).toContainText('01234567-89ab-cdef-0123-456789abcdef');
  await shot(page, '03-erofs-done');
  const img = await download(page, 'download-image', 'drop.erofs');
  execFileSync('fsck.erofs', [img], { stdio: 'pipe' });
  expect(cli('check', img).status).toBe(0);
  expectExtractMatches(img, tree, 'plain');

  // chunked with dedupe: dup-a and dup-b share their chunks
  await page.getByTestId('erofs-chunk').selectOption({ label: '4K' });
  await expect(page.getByTestId('build-command')).toContainText('--chunksize 4096');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result')).toContainText('chunks:');
  const chunked = await download(page, 'download-image', 'drop-chunked.erofs');
  execFileSync('fsck.erofs', [chunked], { stdio: 'pipe' });
  expect(cli('check', chunked).status).toBe(0);
  expectExtractMatches(chunked, tree, 'chunked');
  expect(statSync(chunked).size).toBeLessThan(statSync(img).size); // 70000 duplicated bytes stored once
});

test('folder drop → composefs with objects zip: digest matches fsverity, objects named by digest', async ({ page }) => {
  await openBuild(page);
  await dropFolder(page, tree);
  await expect(page.getByTestId('source-summary')).toContainText('11 files');
  await page.getByTestId('format-composefs').click();
  await expect(page.getByTestId('build-command')).toHaveText('layerscope build --format composefs --digest-store objects --print-digest srcdir/ srcdir.cfs');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result')).toBeVisible();
  await shot(page, '04-composefs-done');
  const digest = (await page.getByTestId('build-digest').textContent())!.trim();
  const img = await download(page, 'download-image', 'drop.cfs');
  const zip = await download(page, 'download-objects', 'objects.zip');
  // the page's digest is the image's fs-verity digest as fsverity-utils computes it
  expect(execFileSync('fsverity', ['digest', '--compact', img], { encoding: 'utf8' }).trim()).toBe(digest);
  const listing = cli('ls', img, '/var/lib/data');
  expect(listing.status).toBe(0);
  expect(listing.out).toContain('big-3m');
  expect(listing.out).toContain('dup-b');
  // objects: every file over 64 bytes, once per distinct content, stored as xx/<62 hex> = its fs-verity digest
  const store = join(work, 'objects');
  execFileSync('python3', ['-c', 'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', zip, store]);
  const objs = snapshot(store).files;
  expect(objs.size).toBe(6); // 4096, 4097, 300k, dup (once), 3m, 65
  for (const [p, b] of objs) {
    expect(p).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{62}$/);
    const f = join(store, p);
    expect(execFileSync('fsverity', ['digest', '--compact', f], { encoding: 'utf8' }).trim()).toBe(p.replace('/', ''));
    expect(b.length).toBeGreaterThan(64);
  }
  const check = cli('check', img, '--objects', store);
  expect(check.status, check.err + check.out).toBe(0);
  const cat = execFileSync(process.execPath, [CLI, 'cat', img, '/var/lib/data/blob-300k', '--objects', store], { maxBuffer: 64 << 20 });
  expect(cat.equals(readFileSync(join(tree, 'var/lib/data/blob-300k')))).toBe(true);
});

test('File System Access: image streamed to a save-picker file, objects into a picked folder (OPFS)', async ({ page }) => {
  await page.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    w.showSaveFilePicker = async (o?: { suggestedName?: string }) => (await navigator.storage.getDirectory()).getFileHandle(o?.suggestedName ?? 'out', { create: true });
    w.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('picked-objects', { create: true });
  });
  await openBuild(page);
  await dropFolder(page, tree);
  await expect(page.getByTestId('source-summary')).toContainText('11 files');
  await page.getByTestId('output-save').click();
  await page.getByTestId('erofs-time').fill('1700000000');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('saved-as')).toContainText('srcdir.erofs');
  await expect(page.getByTestId('download-image')).toHaveCount(0);
  const img = join(work, 'saved.erofs');
  writeFileSync(img, await opfsFile(page, 'srcdir.erofs'));
  execFileSync('fsck.erofs', [img], { stdio: 'pipe' });
  expectExtractMatches(img, tree, 'saved');

  await page.getByTestId('format-composefs').click();
  await page.getByTestId('objects-output').selectOption('dir');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('objects-summary')).toContainText('written to folder picked-objects (6 new)');
  await shot(page, '05-saved');
  const objs = await page.evaluate(async () => {
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked-objects');
    const out: string[] = [];
    for await (const [xx, d] of (root as unknown as AsyncIterable<[string, FileSystemDirectoryHandle]>)) {
      for await (const [rest] of (d as unknown as AsyncIterable<[string, unknown]>)) out.push(`${xx}/${rest}`);
    }
    return out.sort();
  });
  expect(objs).toHaveLength(6);
  for (const o of objs) expect(o).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{62}$/);
  const cfs = join(work, 'saved.cfs');
  writeFileSync(cfs, await opfsFile(page, 'srcdir.cfs'));
  const digest = (await page.getByTestId('build-digest').textContent())!.trim();
  expect(execFileSync('fsverity', ['digest', '--compact', cfs], { encoding: 'utf8' }).trim()).toBe(digest);

  // RAFS into a picked folder: the bootstrap, and the blob named by its id (no partial file left)
  await page.evaluate(async () => {
    (window as unknown as Record<string, unknown>).showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('rafs-out', { create: true });
  });
  await page.getByTestId('format-rafs').click();
  await expect(page.getByTestId('output-save')).toHaveText('Save to folder (streamed)');
  await build(page, 'rafs-output');
  const blobId = (await page.getByTestId('rafs-blob-id').textContent())!.trim();
  const names = await page.evaluate(async () => {
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('rafs-out');
    const out: string[] = [];
    for await (const [n] of (d as unknown as AsyncIterable<[string, unknown]>)) out.push(n);
    return out.sort();
  });
  expect(names).toEqual([blobId, 'srcdir.rafs.boot'].sort());
  const boot = join(work, 'opfs.boot');
  const blob = join(work, 'opfs-blob');
  const bytesOf = async (n: string) => Buffer.from(await page.evaluate(async (name) => {
    const f = await (await (await (await navigator.storage.getDirectory()).getDirectoryHandle('rafs-out')).getFileHandle(name)).getFile();
    const u = await new Promise<string>((ok) => { const r = new FileReader(); r.onload = () => ok(r.result as string); r.readAsDataURL(f); });
    return u.slice(u.indexOf(',') + 1);
  }, n), 'base64');
  writeFileSync(boot, await bytesOf('srcdir.rafs.boot'));
  writeFileSync(blob, await bytesOf(blobId));
  const check = cli('check', boot, '--blob', blob, '--blob-ids');
  expect(check.status, check.err + check.out).toBe(0);
});

test('cancel stops a running build, and the next build works', async ({ page }) => {
  await openBuild(page);
  await dropFolder(page, big);
  await expect(page.getByTestId('source-summary')).toContainText('4 files');
  await page.getByTestId('format-composefs').click();
  await page.getByTestId('objects-output').selectOption('none');
  await page.getByTestId('build-button').click();
  const bytes = page.getByTestId('progress-bytes');
  await expect(bytes).not.toHaveText(/^0 B/);
  await shot(page, '06-progress');
  await page.getByTestId('cancel-button').click();
  await expect(page.getByTestId('build-cancelled')).toBeVisible();
  await expect(page.getByTestId('build-result')).toHaveCount(0);
  const at = await bytes.textContent();
  await page.waitForTimeout(1500);
  expect(await bytes.textContent()).toBe(at); // no more reads after the cancel
  expect(at).not.toContain('4 GiB / 4 GiB');
  await shot(page, '07-cancelled');

  // the worker is free again: a small build completes
  await dropFolder(page, tree);
  await expect(page.getByTestId('source-summary')).toContainText('11 files');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result')).toBeVisible();
});

test('tar keeps modes, owners and symlinks; layers apply whiteouts', async ({ page }) => {
  await openBuild(page);
  await page.getByTestId('build-file-input').setInputFiles(metaTar);
  await expect(page.getByTestId('source-summary')).toContainText('1 symlinks');
  await expect(page.getByTestId('metadata-note')).toHaveCount(0);
  await page.getByTestId('erofs-time').fill('1700000000');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result')).toBeVisible();
  const img = await download(page, 'download-image', 'meta.erofs');
  execFileSync('fsck.erofs', [img], { stdio: 'pipe' });
  // the command line the page shows, run on the same tar, gives the same bytes (UUID aside: random)
  const shown = (await page.getByTestId('build-command').textContent())!.trim().split(' ');
  expect(shown.slice(0, 2)).toEqual(['layerscope', 'build']);
  const viaCli = join(work, 'meta-cli.erofs');
  const args = [...shown.slice(2, -2), '--uuid', (await page.getByTestId('build-uuid').textContent())!.trim(), metaTar, viaCli];
  expect(spawnSync(process.execPath, [CLI, 'build', ...args]).status).toBe(0);
  expect(readFileSync(viaCli).equals(readFileSync(img))).toBe(true);
  const st = JSON.parse(cli('stat', img, '/bin/tool', '--json').out) as Record<string, unknown>;
  expect(st.uid).toBe(1234);
  expect(st.gid).toBe(5678);
  expect(((st.mode as number) & 0o7777).toString(8)).toBe('750');
  const x = join(work, 'x-meta');
  execFileSync('fsck.erofs', [`--extract=${x}`, '--no-preserve', img], { stdio: 'pipe' });
  expect(readlinkSync(join(x, 'tool-link'))).toBe('bin/tool');

  // layers
  await page.getByTestId('remove-source').click();
  await page.getByTestId('stack-layers').check();
  await page.getByTestId('build-file-input').setInputFiles(layer1);
  await expect(page.getByTestId('build-source')).toHaveCount(1);
  await page.getByTestId('build-file-input').setInputFiles(layer2);
  await expect(page.getByTestId('build-source')).toHaveCount(2);
  const effects = page.getByTestId('layer-effects');
  await expect(effects).toContainText('/app/remove-me.txt');
  await expect(effects).toContainText('/app/cache (opaque');
  await expect(page.getByTestId('build-command')).toContainText('layer2.tar');
  await expect(page.getByTestId('build-view')).toContainText('the CLI builds one source');
  await shot(page, '08-layers');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result')).toContainText('2 layers applied');
  const merged = await download(page, 'download-image', 'layers.erofs');
  execFileSync('fsck.erofs', [merged], { stdio: 'pipe' });
  const ls = cli('ls', merged, '/app').out;
  expect(ls).toContain('keep.txt');
  expect(ls).toContain('added.txt');
  expect(ls).not.toContain('remove-me');
  expect(ls).not.toContain('.wh.');
  const cache = cli('ls', merged, '/app/cache').out;
  expect(cache).toContain('new');
  expect(cache).not.toContain('old');
});

test('Nydus RAFS: v6 uncompressed aligned (fsck.erofs --device), v5 gzip/sha256, layers with a parent bootstrap', async ({ page }) => {
  await openBuild(page);
  await dropFolder(page, tree);
  await expect(page.getByTestId('source-summary')).toContainText('11 files');
  await page.getByTestId('format-rafs').click();
  await page.getByTestId('rafs-compressor').selectOption('none');
  await page.locator('label.check', { hasText: 'aligned chunks' }).locator('input').check();
  await page.getByTestId('rafs-chunk').selectOption({ label: '64K' });
  await expect(page.getByTestId('build-command')).toHaveText('layerscope build --format rafs-v6 --blob-dir blobs --compressor none --digester blake3 --chunk-size 65536 --aligned-chunk srcdir/ srcdir.rafs.boot');
  await build(page, 'rafs-output');
  await shot(page, '09-rafs-done');
  const blobId = (await page.getByTestId('rafs-blob-id').textContent())!.trim();
  expect(blobId).toMatch(/^[0-9a-f]{64}$/);
  const boot = await download(page, 'download-bootstrap', 'srcdir.rafs.boot');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-blob').click()]);
  expect(dl.suggestedFilename()).toBe(blobId);
  const blob = join(work, blobId);
  await dl.saveAs(blob);
  // chunk digests, and the blob id recomputed from the blob's bytes (--blob-ids)
  const check = cli('check', boot, '--blob', blob, '--blob-ids');
  expect(check.status, check.err + check.out).toBe(0);
  // uncompressed + aligned v6: the blob is an EROFS extra device
  const out = join(work, 'x-rafs');
  execFileSync('fsck.erofs', [`--device=${blob}`, `--extract=${out}`, boot], { stdio: 'pipe' });
  const want = snapshot(tree);
  const got = snapshot(out);
  expect([...got.files.keys()]).toEqual([...want.files.keys()]);
  for (const [p, b] of want.files) expect(got.files.get(p)!.equals(b), `content of ${p}`).toBe(true);

  // v5, gzip, sha256
  await page.getByTestId('rafs-version').selectOption('5');
  await page.getByTestId('rafs-compressor').selectOption('gzip');
  await page.getByTestId('rafs-digester').selectOption('sha256');
  await build(page, 'rafs-output');
  const boot5 = await download(page, 'download-bootstrap', 'srcdir.rafs5.boot');
  const id5 = (await page.getByTestId('rafs-blob-id').textContent())!.trim();
  const blob5 = await download(page, 'download-blob', id5);
  const c5 = cli('check', boot5, '--blob', blob5);
  expect(c5.status, c5.err + c5.out).toBe(0);
  expect(JSON.parse(cli('inspect', boot5, '--blob', blob5, '--json').out).format).toBe('rafs-v5');

  // layers: layer 2 is built onto layer 1's bootstrap
  await page.getByTestId('remove-source').click();
  await page.getByTestId('stack-layers').check();
  await page.getByTestId('rafs-version').selectOption('6');
  await page.getByTestId('rafs-compressor').selectOption('lz4_block');
  await page.getByTestId('build-file-input').setInputFiles(layer1);
  await expect(page.getByTestId('build-source')).toHaveCount(1);
  await page.getByTestId('build-file-input').setInputFiles(layer2);
  await expect(page.getByTestId('build-source')).toHaveCount(2);
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('rafs-output')).toHaveCount(2);
  await shot(page, '10-rafs-layers');
  const tops = page.getByTestId('download-bootstrap');
  const [d2] = await Promise.all([page.waitForEvent('download'), tops.nth(1).click()]);
  const top = join(work, 'top.boot');
  await d2.saveAs(top);
  const b1 = join(work, 'l1-blob');
  const b2 = join(work, 'l2-blob');
  const [x1] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-blob').nth(0).click()]);
  await x1.saveAs(b1);
  const [x2] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-blob').nth(1).click()]);
  await x2.saveAs(b2);
  const ls = cli('ls', top, '/app', '--blob', b1, '--blob', b2);
  expect(ls.status, ls.err).toBe(0);
  expect(ls.out).toContain('keep.txt');
  expect(ls.out).toContain('added.txt');
  expect(ls.out).not.toContain('remove-me');
  const topCheck = cli('check', top, '--blob', b1, '--blob', b2);
  expect(topCheck.status, topCheck.err + topCheck.out).toBe(0);
  const cat = cli('cat', top, '/app/keep.txt', '--blob', b1, '--blob', b2);
  expect(cat.out).toBe('kept\n');
});

test('an image to convert and a composefs dump: same bytes as the CLI from the same input', async ({ page }) => {
  // an EROFS image with real owners, modes and a symlink (made by the CLI from the tar)
  const src = join(work, 'convert-src.erofs');
  expect(cli('build', '--format', 'erofs', '-T', '1700000000', '--uuid', '11111111-2222-3333-4444-555555555555', metaTar, src).status).toBe(0);
  const cliCfs = join(work, 'convert-cli.cfs');
  expect(cli('build', '--format', 'composefs', src, cliCfs).status).toBe(0);

  await openBuild(page);
  await page.getByTestId('build-file-input').setInputFiles(src);
  await expect(page.getByTestId('build-source')).toContainText('image');
  await expect(page.getByTestId('source-summary')).toContainText('1 symlinks');
  await page.getByTestId('format-composefs').click();
  await page.getByTestId('objects-output').selectOption('none');
  await build(page);
  const pageCfs = await download(page, 'download-image', 'convert-page.cfs');
  expect(readFileSync(pageCfs).equals(readFileSync(cliCfs))).toBe(true);

  // its dump (no content for files stored as objects): composefs only, the same bytes again
  const dump = join(work, 'convert.dump');
  writeFileSync(dump, execFileSync(process.execPath, [CLI, 'dump', cliCfs]));
  const cliFromDump = join(work, 'dump-cli.cfs');
  expect(cli('build', '--format', 'composefs', dump, cliFromDump).status).toBe(0);
  await page.getByTestId('build-file-input').setInputFiles(dump);
  await expect(page.getByTestId('build-source')).toContainText('dump');
  await build(page);
  await shot(page, '11-dump');
  const fromDump = await download(page, 'download-image', 'dump-page.cfs');
  expect(readFileSync(fromDump).equals(readFileSync(cliFromDump))).toBe(true);
});

test('folder drop → compressed EROFS: options, layerscope and mkfs.erofs lines, ratio and histogram, image reads back', async ({ page }) => {
  test.setTimeout(120_000);
  // compressible text, a real binary, random bytes (stay plain), small files and a duplicate
  const src = join(work, 'zsrc');
  mkdirSync(join(src, 'doc'), { recursive: true });
  mkdirSync(join(src, 'bin'));
  const licenses = Buffer.concat(['GPL-3', 'GPL-2', 'LGPL-2.1', 'Apache-2.0', 'Artistic'].map((n) => readFileSync(`/usr/share/common-licenses/${n}`)));
  writeFileSync(join(src, 'doc/licenses.txt'), licenses);
  writeFileSync(join(src, 'doc/licenses-copy.txt'), licenses);
  writeFileSync(join(src, 'doc/words.txt'), Buffer.from('layer image chunk blob inode erofs nydus composefs '.repeat(4000)));
  writeFileSync(join(src, 'bin/ls'), readFileSync('/usr/bin/ls'));
  writeFileSync(join(src, 'random.bin'), bytes(200_000, 21));
  writeFileSync(join(src, 'small.txt'), 'a small file\n');
  writeFileSync(join(src, 'edge-4097'), licenses.subarray(0, 4097));
  const logical = [...snapshot(src).files.values()].reduce((a, b) => a + b.length, 0);

  await openBuild(page);
  await dropFolder(page, src);
  await expect(page.getByTestId('source-summary')).toContainText('7 files');
  await page.getByTestId('erofs-uuid').fill('01234567-89ab-cdef-0123-456789abcdef');
  await page.getByTestId('erofs-time').fill('1700000000');
  await page.getByTestId('erofs-compression').selectOption('lz4hc');
  await page.getByTestId('erofs-level').selectOption('12');
  await page.getByTestId('erofs-pcluster').selectOption({ label: '16K' });
  await expect(page.getByTestId('erofs-chunk')).toHaveCount(0); // chunks are for uncompressed files
  await expect(page.getByTestId('build-command')).toHaveText('layerscope build --format erofs -z lz4hc,12 -C 16384 --uuid 01234567-89ab-cdef-0123-456789abcdef -T 1700000000 zsrc/ zsrc.erofs');
  await expect(page.getByTestId('mkfs-command')).toHaveText('mkfs.erofs -zlz4hc,12 -C16384 -T1700000000 -U01234567-89ab-cdef-0123-456789abcdef zsrc.erofs zsrc/');
  await shot(page, '20-compressed-options');
  await build(page);
  const z = page.getByTestId('build-compression');
  await expect(z).toBeVisible();
  const img = await download(page, 'download-image', 'drop-lz4hc.erofs');
  // the ratio shown is the files' bytes over the downloaded image's size
  const shown = Number(await z.getAttribute('data-image-ratio'));
  expect(shown).toBeCloseTo(logical / statSync(img).size, 6);
  expect(shown).toBeGreaterThan(1.5);
  await expect(page.getByTestId('compression-ratio')).toHaveText(`${shown.toFixed(2)}×`);
  await expect(z).toContainText('files stored compressed');
  // the histogram: one row per ratio bucket, every file counted once, random.bin and small.txt plain
  const rows = page.getByTestId('zhist-row');
  expect(await rows.count()).toBe(8);
  const files = await rows.evaluateAll((r) => r.map((x) => Number(x.getAttribute('data-files'))));
  expect(files.reduce((a, b) => a + b, 0)).toBe(7);
  expect(files[0]).toBeGreaterThanOrEqual(2);
  expect(files.slice(4).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2); // the text files: 2× or more
  await page.getByTestId('compression-histogram').scrollIntoViewIfNeeded();
  await shot(page, '21-compressed-done');
  // Debian's fsck.erofs 1.5 checks and extracts it; the layerscope reader agrees
  execFileSync('fsck.erofs', [img], { stdio: 'pipe' });
  expectExtractMatches(img, src, 'lz4hc');
  expect(cli('check', img).status).toBe(0);
  // the mkfs.erofs line as shown (with the real folder and output) makes an image of about the same size
  const ref = join(work, 'mkfs-lz4hc.erofs');
  const line = (await page.getByTestId('mkfs-command').textContent())!.replace(' zsrc.erofs zsrc/', ` ${ref} ${src}`);
  execFileSync('sh', ['-c', line], { stdio: 'pipe' });
  expect(Math.abs(statSync(img).size / statSync(ref).size - 1)).toBeLessThan(0.05);

  // zstd with ztailpacking, fragments and dedupe: built, or the writer's UnsupportedError shown
  await page.getByTestId('erofs-compression').selectOption('zstd');
  await expect(page.getByTestId('erofs-level')).toHaveValue(/.*/);
  await page.getByTestId('erofs-ztailpacking').check();
  await page.getByTestId('erofs-fragments').check();
  await page.getByTestId('erofs-zdedupe').check();
  await expect(page.getByTestId('build-command')).toContainText('-z zstd -C 16384 -E ztailpacking,fragments,dedupe');
  await expect(page.getByTestId('mkfs-command')).toContainText('-zzstd -C16384 -Eztailpacking,fragments,dedupe');
  await page.getByTestId('build-button').click();
  await expect(page.getByTestId('build-result').or(page.getByTestId('error'))).toBeVisible({ timeout: 60_000 });
  if (await page.getByTestId('error').isVisible()) {
    await expect(page.getByTestId('error')).toHaveAttribute('data-error-name', 'UnsupportedError');
    await shot(page, '22-zstd-unsupported');
  } else {
    await expect(page.getByTestId('build-compression')).toBeVisible();
    await page.getByTestId('compression-histogram').scrollIntoViewIfNeeded();
    await shot(page, '22-zstd-done');
    const zimg = await download(page, 'download-image', 'drop-zstd.erofs');
    expect(cli('check', zimg).status).toBe(0);
    const out = join(work, 'x-zstd');
    expect(cli('extract', zimg, out).status).toBe(0);
    for (const [p, b] of snapshot(src).files) expect(readFileSync(join(out, p)).equals(b), `zstd: content of ${p}`).toBe(true);
  }
});
