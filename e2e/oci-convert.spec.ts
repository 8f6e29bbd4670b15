// Converting an OCI image in the page (Image view → Convert…, workers/converter.ts) in Chromium:
// a real folder drop of an umoci layout (whiteout, layers appended as a builder writes them),
// converted to Nydus and downloaded as an oci-archive; the CLI opens the download
// (`layerscope ls|extract`), it holds the image's merged tree, and it is byte for byte what
// `layerscope convert --to nydus OUT.tar` writes. A cancel mid-way leaves no result and no download.
// One EROFS per layer in tar index mode: the downloaded tar of the pairs and a picked folder hold the
// files `layerscope convert --to erofs --per-layer OUTDIR` writes, byte for byte; the kernel mounts a
// page-made layer image over its page-made tar and shows the layer's files; a layer it cannot index
// (a hardlink into a lower layer) fails with its number and leaves the picked folder empty.
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { appendLayer, makeTar, missingTools, newImage, repack, sh, unpackRootfs } from '../test/helpers/oci.ts';
import { compareSnapshots, snapshotDisk } from '../test/helpers/treecompare.ts';
import { REPO, tempDir } from '../test/helpers/paths.ts';
import { dropPaths } from './helpers/drop.ts';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const CLI = join(REPO, 'bin/layerscope.mjs');
const skip = missingTools();

failOnPageErrors(test);
test.skip(!!skip, skip ?? '');

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let work = '';
let layout = '';
let big = '';

test.beforeAll(() => {
  if (skip) return;
  work = tempDir('ls-e2e-oci-convert-');
  layout = join(work, 'img');
  newImage(layout, 't');
  repack(layout, 't', work, (r) => sh('mkdir -p etc srv; printf "gee\\n" > etc/g; printf "echo hi\\n" > srv/app.sh; chmod 0755 srv/app.sh', r), 'COPY app.sh /srv/');
  appendLayer(layout, 't', makeTar([{ name: 'etc/f', size: 1000 }, { name: 'opt', type: 'dir' }, { name: 'opt/data', size: 300000 }]), 'gzip', 'RUN write /etc/f');
  appendLayer(layout, 't', makeTar([{ name: 'etc/f', size: 2500 }, { name: 'h', text: 'h' }]), 'gzip', 'RUN overwrite /etc/f; add /h');
  appendLayer(layout, 't', makeTar([{ name: 'etc/.wh.f', size: 0 }]), 'none', 'RUN rm /etc/f');
  // big enough that a cancel lands mid-way: three layers of 12 MB of random bytes
  big = join(work, 'big');
  newImage(big, 'b');
  for (let i = 0; i < 3; i++) repack(big, 'b', work, (r) => sh(`head -c 12000000 /dev/urandom > big${i}`, r), `RUN big${i}`);
});

test.afterAll(() => void (work && rmSync(work, { recursive: true, force: true })));

async function openConvert(page: import('@playwright/test').Page, path: string): Promise<void> {
  await page.goto('/');
  await dropPaths(page, [path]);
  await page.getByTestId('tab-image').click();
  await page.getByTestId('oci-convert-toggle').click();
  await expect(page.getByTestId('oci-convert')).toBeVisible();
}

test('a dropped layout converted to Nydus: the downloaded oci-archive opens with the CLI, holds the merged tree, equals the CLI conversion', async ({ page }) => {
  await openConvert(page, layout);
  await page.screenshot({ path: join(SHOTS, 'oci-convert-form.png') });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('convert-start').click()]);
  expect(download.suggestedFilename()).toBe('img-nydus.tar');
  const got = join(work, 'page-nydus.tar');
  await download.saveAs(got);
  await expect(page.getByTestId('convert-result')).toBeVisible();
  await expect(page.getByTestId('convert-layers').locator('tbody tr')).toHaveCount(4);
  await expect(page.getByTestId('convert-command')).toHaveText('layerscope convert img --to nydus img-nydus.tar');
  await page.screenshot({ path: join(SHOTS, 'oci-convert-result.png'), fullPage: true });

  // the CLI: the same conversion, byte for byte (mtime 0 in tar and gzip headers; same writers)
  const mine = join(work, 'cli-nydus.tar');
  const c = cli(['convert', layout, '--to', 'nydus', mine, '--json']);
  expect(c.status, c.stderr).toBe(0);
  const manifest = JSON.parse(c.stdout).manifest.digest as string;
  await expect(page.getByTestId('convert-manifest')).toContainText(manifest);
  expect(readFileSync(got).equals(readFileSync(mine))).toBe(true);

  // the download opens as the image's filesystem: its tree is umoci unpack's rootfs but for the
  // root's mtime, which nydus sets to 0
  const ls = cli(['ls', got]);
  expect(ls.status, ls.stderr).toBe(0);
  expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['etc', 'h', 'opt', 'srv']);
  const x = join(work, 'x');
  const ex = cli(['extract', got, x]);
  expect(ex.status, ex.stderr).toBe(0);
  const ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
  expect(compareSnapshots(ref, snapshotDisk(x))).toEqual([`/: mtime ${ref.entries.get('')!.mtimeNs} != 0`]);
});

test('a cancel mid-way leaves no result and downloads nothing', async ({ page }) => {
  await openConvert(page, big);
  // 4 KiB chunks: ~2,900 per layer instead of 12, so the conversion lasts long enough for the click.
  // With 1 MiB chunks of random bytes a quiet CI run converted all 34 MB in 0.9 s, before the cancel landed.
  await page.getByTestId('convert-chunk').selectOption({ label: '4 KiB' });
  let downloads = 0;
  page.on('download', () => void downloads++);
  await page.getByTestId('convert-start').click();
  // mid-way: a layer of the three is being converted. Not "layer 2" itself: on a busy machine the
  // progress line can go from layer 1 to layer 3 between two looks (seen with both cores loaded)
  await expect(page.getByTestId('convert-progress')).toContainText(/layer [12] of 3/, { timeout: 30_000 });
  await page.screenshot({ path: join(SHOTS, 'oci-convert-progress.png') });
  await page.getByTestId('convert-cancel').click();
  await expect(page.getByTestId('convert-error')).toHaveText('Cancelled: nothing was kept.');
  await expect(page.getByTestId('convert-result')).toHaveCount(0);
  await expect(page.getByTestId('convert-start')).toBeVisible();
  expect(downloads).toBe(0);
});

test('streamed outputs: a save-picker file and a picked folder (OPFS handles stand in for the pickers) hold the CLI conversion; composefs and EROFS of the merged tree', async ({ page }) => {
  // the pickers answer with Origin Private File System handles: real FileSystemFileHandle /
  // FileSystemDirectoryHandle objects, written by the worker as a user's picked file would be
  await page.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    w.showSaveFilePicker = async (o: { suggestedName?: string }) => (await navigator.storage.getDirectory()).getFileHandle(o.suggestedName ?? 'out', { create: true });
    w.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
  });
  await openConvert(page, layout);
  const mine = join(work, 'cli-nydus-2.tar');
  expect(cli(['convert', layout, '--to', 'nydus', mine]).status).toBe(0);
  const want = readFileSync(mine);

  await page.getByTestId('convert-output').selectOption('file');
  await page.getByTestId('convert-start').click();
  await expect(page.getByTestId('convert-result')).toContainText('saved img-nydus.tar');
  const saved = await page.evaluate(async () => Array.from(new Uint8Array(await (await (await (await navigator.storage.getDirectory()).getFileHandle('img-nydus.tar')).getFile()).arrayBuffer())));
  expect(Buffer.from(saved).equals(want)).toBe(true);

  await page.getByTestId('convert-output').selectOption('dir');
  await page.getByTestId('convert-start').click();
  await expect(page.getByTestId('convert-result')).toContainText('written to the folder picked');
  // the folder: the files of the CLI's archive, each with the same bytes
  const folder = await page.evaluate(async () => {
    const out: Record<string, string> = {};
    const walk = async (d: FileSystemDirectoryHandle, at: string): Promise<void> => {
      for await (const [name, h] of (d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        if (h.kind === 'directory') await walk(h as FileSystemDirectoryHandle, `${at}${name}/`);
        else {
          const b = new Uint8Array(await (await (h as FileSystemFileHandle).getFile()).arrayBuffer());
          out[`${at}${name}`] = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b))).map((x) => x.toString(16).padStart(2, '0')).join('');
        }
      }
    };
    await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle('picked'), '');
    return out;
  });
  const x = join(work, 'cli-nydus-2');
  sh(`mkdir -p ${x} && tar -xf ${mine} -C ${x}`);
  const listed = sh(`cd ${x} && find . -type f | sed 's|^./||' | sort | xargs sha256sum`).trim().split('\n').map((l) => l.split(/\s+/)).map(([h, p]) => [p!, h!]);
  expect(Object.entries(folder).sort()).toEqual(listed.sort());

  // composefs of the merged tree, downloaded: the CLI's image, byte for byte (same writer, same tree)
  await page.getByTestId('convert-target').selectOption('composefs');
  await page.getByTestId('convert-output').selectOption('download');
  const [cfs] = await Promise.all([page.waitForEvent('download'), page.getByTestId('convert-start').click()]);
  const gotCfs = join(work, 'page.cfs');
  await cfs.saveAs(gotCfs);
  const wantCfs = join(work, 'cli.cfs');
  const c = cli(['convert', layout, '--to', 'composefs', wantCfs, '--digest-store', join(work, 'objects'), '--json']);
  expect(c.status, c.stderr).toBe(0);
  expect(readFileSync(gotCfs).equals(readFileSync(wantCfs))).toBe(true);
  await expect(page.getByTestId('convert-digest')).toHaveText(JSON.parse(c.stdout).digest);
  await expect(page.getByTestId('convert-command')).toHaveText('layerscope convert img --to composefs --digest-store objects img.cfs');
  await page.screenshot({ path: join(SHOTS, 'oci-convert-composefs.png'), fullPage: true });

  // EROFS: the CLI opens the page's image and lists the merged tree
  await page.getByTestId('convert-target').selectOption('erofs');
  const [ero] = await Promise.all([page.waitForEvent('download'), page.getByTestId('convert-start').click()]);
  const gotErofs = join(work, 'page.erofs');
  await ero.saveAs(gotErofs);
  const ls = cli(['ls', gotErofs]);
  expect(ls.status, ls.stderr).toBe(0);
  expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['etc', 'h', 'opt', 'srv']);
});

test('a picked folder: a cancel mid-way leaves it empty; a folder that holds files is refused and kept as it was', async ({ page }) => {
  await page.addInitScript(() => {
    (window as unknown as Record<string, unknown>).showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle((window as unknown as { pickName?: string }).pickName ?? 'out', { create: true });
  });
  await openConvert(page, big);
  const names = (dir: string) => page.evaluate(async (d) => {
    const out: string[] = [];
    const h = await (await navigator.storage.getDirectory()).getDirectoryHandle(d);
    for await (const k of (h as unknown as { keys(): AsyncIterable<string> }).keys()) out.push(k);
    return out.sort();
  }, dir);
  await page.getByTestId('convert-output').selectOption('dir');
  await page.getByTestId('convert-start').click();
  // mid-way: a layer of the three is being converted. Not "layer 2" itself: on a busy machine the
  // progress line can go from layer 1 to layer 3 between two looks (seen with both cores loaded)
  await expect(page.getByTestId('convert-progress')).toContainText(/layer [12] of 3/, { timeout: 30_000 });
  await page.getByTestId('convert-cancel').click();
  await expect(page.getByTestId('convert-error')).toHaveText('Cancelled: nothing was kept.');
  expect(await names('out')).toEqual([]);

  // a folder with a file of the user's in it
  await page.evaluate(async () => {
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('full', { create: true });
    const w = await (await d.getFileHandle('mine.txt', { create: true })).createWritable();
    await w.write('keep me');
    await w.close();
    (window as unknown as { pickName?: string }).pickName = 'full';
  });
  await page.getByTestId('convert-start').click();
  await expect(page.getByTestId('convert-error')).toContainText('the folder full holds mine.txt');
  expect(await names('full')).toEqual(['mine.txt']);
});

/** `sha256sum` of every file under `dir`, as [relative path, hex] sorted */
const sums = (dir: string): string[][] => sh(`cd ${dir} && find . -type f | sed 's|^./||' | sort | xargs sha256sum`).trim().split('\n').map((l) => l.split(/\s+/)).map(([h, p]) => [p!, h!]).sort();

test('one EROFS per layer over its tar: the download and a picked folder hold the CLI\'s files; the kernel mounts one over its tar', async ({ page }) => {
  await page.addInitScript(() => {
    (window as unknown as Record<string, unknown>).showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('per-layer', { create: true });
  });
  await openConvert(page, layout);
  const cliOut = join(work, 'cli-per-layer');
  const c = cli(['convert', layout, '--to', 'erofs', '--per-layer', cliOut, '--json']);
  expect(c.status, c.stderr).toBe(0);
  const want = sums(cliOut);
  expect(want.map(([p]) => p)).toEqual(['layer-0.erofs', 'layer-0.tar', 'layer-1.erofs', 'layer-1.tar', 'layer-2.erofs', 'layer-2.tar', 'layer-3.erofs', 'layer-3.tar']);

  // downloaded: one tar of the pairs, which tar -x turns into the CLI's OUTDIR
  await page.getByTestId('convert-target').selectOption('erofs-per-layer');
  await page.screenshot({ path: join(SHOTS, 'oci-convert-per-layer-form.png') });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('convert-start').click()]);
  expect(download.suggestedFilename()).toBe('img-per-layer.tar');
  const got = join(work, 'page-per-layer.tar');
  await download.saveAs(got);
  await expect(page.getByTestId('convert-per-layer').locator('tbody tr')).toHaveCount(4);
  await expect(page.getByTestId('convert-command')).toHaveText('layerscope convert img --to erofs --per-layer img-per-layer.tar');
  await page.screenshot({ path: join(SHOTS, 'oci-convert-per-layer-result.png'), fullPage: true });
  const x = join(work, 'page-per-layer');
  mkdirSync(x);
  sh(`tar -xf ${got} -C ${x}`);
  expect(sums(x)).toEqual(want);
  // the member list is exactly the pairs, in layer order
  expect(sh(`tar -tf ${got}`).trim().split('\n')).toEqual(['layer-0.tar', 'layer-0.erofs', 'layer-1.tar', 'layer-1.erofs', 'layer-2.tar', 'layer-2.erofs', 'layer-3.tar', 'layer-3.erofs']);

  // into a picked folder (an OPFS handle stands in for the picker): the same files
  await page.getByTestId('convert-output').selectOption('dir');
  await page.getByTestId('convert-start').click();
  await expect(page.getByTestId('convert-result')).toContainText('written to the folder per-layer');
  const folder = await page.evaluate(async () => {
    const out: string[][] = [];
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('per-layer');
    for await (const [name, h] of (d as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> }).entries()) {
      const b = new Uint8Array(await (await h.getFile()).arrayBuffer());
      out.push([name, Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b))).map((v) => v.toString(16).padStart(2, '0')).join('')]);
    }
    return out.sort();
  });
  expect(folder).toEqual(want);
  // that folder again: it holds files now, so it is refused and kept as it is
  await page.getByTestId('convert-start').click();
  await expect(page.getByTestId('convert-error')).toContainText('the folder per-layer holds layer-');
  expect(await page.evaluate(async () => {
    const names: string[] = [];
    for await (const k of ((await (await navigator.storage.getDirectory()).getDirectoryHandle('per-layer')) as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(k);
    return names.length;
  })).toBe(8);

  // our reader opens a page-made layer image with its page-made tar as device 1
  const ls = cli(['ls', join(x, 'layer-1.erofs'), '--device', join(x, 'layer-1.tar'), '/etc']);
  expect(ls.status, ls.stderr).toBe(0);
  expect(ls.stdout.split('\n').filter(Boolean)).toEqual(['f']);
  const cat = sh(`node ${CLI} cat ${join(x, 'layer-1.erofs')} /opt/data --device ${join(x, 'layer-1.tar')} | sha256sum`);
  expect(cat).toBe(sh(`tar -xOf ${join(x, 'layer-1.tar')} opt/data | sha256sum`));

  // the kernel: layer 1's image over its tar on a loop device shows tar -x of that tar
  if (process.getuid?.() !== 0) return test.info().annotations.push({ type: 'skipped', description: 'mounting needs root' });
  const loop = spawnSync('losetup', ['-f', '--show', '--read-only', join(x, 'layer-1.tar')], { encoding: 'utf8' });
  if (loop.status !== 0) return test.info().annotations.push({ type: 'skipped', description: `losetup refused: ${loop.stderr.trim()}` });
  const mnt = join(work, 'mnt-layer-1');
  mkdirSync(mnt);
  try {
    const m = spawnSync('mount', ['-t', 'erofs', '-o', `ro,device=${loop.stdout.trim()}`, join(x, 'layer-1.erofs'), mnt], { encoding: 'utf8' });
    if (m.status !== 0) return test.info().annotations.push({ type: 'skipped', description: `mount -t erofs refused: ${m.stderr.trim()}` });
    try {
      const ref = join(work, 'tarx-layer-1');
      mkdirSync(ref);
      sh(`tar -xf ${join(x, 'layer-1.tar')} -C ${ref}`);
      expect(sums(mnt)).toEqual(sums(ref));
      expect(sums(mnt).map(([p]) => p)).toEqual(['etc/f', 'opt/data']);
    } finally {
      spawnSync('umount', [mnt]);
    }
  } finally {
    spawnSync('losetup', ['-d', loop.stdout.trim()]);
  }
});

test('per layer into a picked folder: a layer the tar index cannot take fails with its number, and the folder is emptied', async ({ page }) => {
  // layer 1 hardlinks a file of layer 0: the image opens (the merge resolves it), but layer 1's tar
  // alone names nothing for the link, so its index is refused (mkfs.erofs --tar=i fails on it too)
  // after layer 0's pair and layer 1's tar were written to the folder
  const hl = join(work, 'hardlink');
  newImage(hl, 'h');
  appendLayer(hl, 'h', makeTar([{ name: 'etc/a', text: 'a' }]), 'gzip', 'one');
  appendLayer(hl, 'h', makeTar([{ name: 'etc/b', type: 'hardlink', linkname: 'etc/a' }]), 'gzip', 'two');
  const c = cli(['convert', hl, '--to', 'erofs', '--per-layer', join(work, 'hardlink-out')]);
  expect(c.status).toBe(3);
  expect(c.stderr).toContain('layer 1 (');
  await page.addInitScript(() => {
    (window as unknown as Record<string, unknown>).showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('pl-fail', { create: true });
  });
  await openConvert(page, hl);
  await page.getByTestId('convert-target').selectOption('erofs-per-layer');
  await page.getByTestId('convert-output').selectOption('dir');
  await page.getByTestId('convert-start').click();
  await expect(page.getByTestId('convert-error')).toContainText('layer 1 (layer-1.tar): hardlink "etc/b" names "etc/a", which is not an earlier entry of the archive');
  await expect(page.getByTestId('convert-result')).toHaveCount(0);
  expect(await page.evaluate(async () => {
    const names: string[] = [];
    for await (const k of ((await (await navigator.storage.getDirectory()).getDirectoryHandle('pl-fail')) as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(k);
    return names;
  })).toEqual([]);
  await page.screenshot({ path: join(SHOTS, 'oci-convert-per-layer-error.png') });
});
