// The page compresses EROFS `-z` files on its compression workers (nested workers started by the
// builder worker, src/lib/app/build-zpool.ts), as the CLI does on worker threads, once there are
// 8 MiB of files to compress: a folder dropped for real (CDP Input.dispatchDragEvent) and built as
// -z lz4hc and -z zstd gives the bytes `layerscope build` writes from the same folder, and the
// kernel mounts the image.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, lstatSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPaths } from './helpers/drop.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(import.meta.dirname, '..', 'bin', 'layerscope.mjs');

let work: string;
let src: string;

/** every regular file under `dir`: relative path → content */
function files(dir: string, rel = '', out = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    if (lstatSync(p).isDirectory()) files(p, r, out);
    else out.set(r, readFileSync(p));
  }
  return out;
}

/** every directory under and including `dir`, deepest first */
function dirs(dir: string): string[] {
  const sub = readdirSync(dir).map((n) => join(dir, n)).filter((p) => lstatSync(p).isDirectory());
  return [...sub.flatMap(dirs), dir];
}

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-zpool-'));
  src = join(work, 'zsrc');
  mkdirSync(join(src, 'doc'), { recursive: true });
  mkdirSync(join(src, 'bin'));
  mkdirSync(join(src, 'etc/many'), { recursive: true });
  const licenses = Buffer.concat(['GPL-3', 'GPL-2', 'LGPL-2.1', 'Apache-2.0', 'Artistic'].map((n) => readFileSync(`/usr/share/common-licenses/${n}`)));
  writeFileSync(join(src, 'doc/licenses.txt'), licenses);
  // over the pool's 1 MiB message: streamed to one worker in pieces; together over the 8 MiB of
  // content below which the writer keeps compressing on its own thread (POOL_MIN_BYTES)
  for (const k of [1, 2, 3]) {
    const big: Buffer[] = [];
    for (let i = 0, n = 0; n < 3 << 20; i++, n += big[big.length - 1]!.length) big.push(Buffer.from(`${k}.${i} `), licenses.subarray((i * 7919 * k) % 50_000, ((i * 7919 * k) % 50_000) + 20_000));
    writeFileSync(join(src, `doc/big-${k}.txt`), Buffer.concat(big));
  }
  writeFileSync(join(src, 'bin/ls'), readFileSync('/usr/bin/ls'));
  // random bytes stay plain (compression cannot shrink them); the page and the CLI read the same file
  writeFileSync(join(src, 'random.bin'), randomBytes(300_000));
  // small files: batched, many to one message
  for (let i = 0; i < 60; i++) writeFileSync(join(src, `etc/many/f${i}.conf`), licenses.subarray(i * 1500, i * 1500 + 5000 + i * 97));
  writeFileSync(join(src, 'small.txt'), 'a small file\n');
  // what a browser drop carries (src/lib/fs/sources/browser.ts): 0644 files, 0755 directories, owner
  // 0:0 (root runs this), file mtimes in whole ms, directory mtimes 0; the CLI then reads the same tree
  for (const p of files(src).keys()) {
    execFileSync('chmod', ['0644', join(src, p)]);
    utimesSync(join(src, p), 1_700_000_000, 1_700_000_000);
  }
  for (const d of dirs(src)) {
    execFileSync('chmod', ['0755', d]);
    utimesSync(d, 0, 0);
  }
});

test.afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function download(page: Page, to: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-image').click()]);
  const path = join(work, to);
  await dl.saveAs(path);
  return path;
}

/** the kernel mounts `img` read-only and shows every file of `src` with its content; skipped (annotated) when it cannot */
function expectKernelMount(img: string, name: string): void {
  if (process.getuid?.() !== 0) {
    test.info().annotations.push({ type: 'skipped', description: `${name}: mounting needs root` });
    return;
  }
  const mnt = join(work, `mnt-${name}`);
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', img, mnt], { encoding: 'utf8' });
  if (m.status !== 0) {
    test.info().annotations.push({ type: 'skipped', description: `${name}: mount -t erofs refused: ${m.stderr.trim()}` });
    return;
  }
  try {
    const want = files(src);
    const got = files(mnt);
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [p, b] of want) expect(got.get(p)!.equals(b), `${name}: kernel read of ${p}`).toBe(true);
  } finally {
    execFileSync('umount', [mnt]);
  }
}

test('folder drop → -z lz4hc and -z zstd on the compression workers: the CLI\'s bytes, mounted by the kernel', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto('/#build');
  await expect(page.getByTestId('build-view')).toBeVisible();
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const workers = cores > 1 ? Math.min(4, cores) : 0;
  const box = (await page.getByTestId('build-drop').boundingBox())!;
  await dropPaths(page, [src], { x: box.x + box.width / 2, y: box.y + box.height / 2 });
  await expect(page.getByTestId('source-summary')).toContainText('67 files');
  await page.getByTestId('erofs-uuid').fill('01234567-89ab-cdef-0123-456789abcdef');
  await page.getByTestId('erofs-time').fill('1700000000');

  for (const alg of ['lz4hc', 'zstd'] as const) {
    await page.getByTestId('erofs-compression').selectOption(alg);
    await page.getByTestId('build-button').click();
    await expect(page.getByTestId('build-result').or(page.getByTestId('error'))).toBeVisible({ timeout: 120_000 });
    if (await page.getByTestId('error').isVisible()) throw new Error(`${alg}: ${await page.getByTestId('error').textContent()}`);
    // the writer's own count of the threads its files were compressed on
    await expect(page.getByTestId('compress-workers')).toHaveAttribute('data-workers', String(workers));
    await expect(page.getByTestId('compress-workers')).toHaveText(workers ? `compressed on ${workers} workers` : 'compressed on the builder worker alone');
    await page.getByTestId('compress-workers').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, `build-zpool-${alg}.png`), fullPage: true });
    const img = await download(page, `page-${alg}.erofs`);

    // the command line the page shows, run on the same folder by the CLI (its own compress threads)
    const shown = (await page.getByTestId('build-command').textContent())!.trim().split(' ');
    expect(shown.slice(0, 2)).toEqual(['layerscope', 'build']);
    expect(shown).toContain(alg);
    const viaCli = join(work, `cli-${alg}.erofs`);
    const r = spawnSync(process.execPath, [CLI, 'build', ...shown.slice(2, -2), src, viaCli], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(img).equals(readFileSync(viaCli)), `${alg}: page image = CLI image`).toBe(true);
    // Debian's fsck.erofs 1.5 knows no zstd (format 3)
    if (alg === 'lz4hc') execFileSync('fsck.erofs', [img], { stdio: 'pipe' });
    expectKernelMount(img, alg);
  }
});
