// The inspector views on real images: Nydus samples (v5 + lz4 blob, v6 + zstd blob, blob with an
// inlined bootstrap), mkfs.erofs variants, a 20k-entry directory, a 100 MB file, deep links, ?url=
// against local HTTP servers with and without Range, structure view, stats, verify, export, CSP.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const NYDUS = join(import.meta.dirname, '..', 'public', 'samples', 'nydus');
const V6BLOB = 'be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef';
const WIDE = 20_000;
const BIG = 100 * 1024 * 1024;

let work: string;
const servers: Server[] = [];

/** the byte at `o` of the big file: a position-derived pattern, so any offset can be checked */
const bigByte = (o: number) => (o * 7 + (o >>> 12)) & 0xff;

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e2-'));
  const t = join(work, 'tree');
  mkdirSync(join(t, 'etc'), { recursive: true });
  mkdirSync(join(t, 'img'));
  writeFileSync(join(t, 'etc/motd'), 'welcome to the variants\n'.repeat(200));
  writeFileSync(join(t, 'hello.txt'), 'hello variants\n');
  // a 1x1 PNG
  writeFileSync(join(t, 'img/dot.png'), Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64'));
  for (const [name, extra] of [['plain', []], ['lz4', ['-zlz4']], ['lz4hc', ['-zlz4hc']], ['chunked', ['--chunksize=4096']]] as const) {
    execFileSync('mkfs.erofs', [...extra, '-T', '1600000000', '--all-root', '--quiet', join(work, `${name}.erofs`), t]);
  }
  const w = join(work, 'wide');
  mkdirSync(join(w, 'many'), { recursive: true });
  mkdirSync(join(w, 'other/sub'), { recursive: true });
  writeFileSync(join(w, 'other/sub/needle-file.txt'), 'found me\n');
  for (let i = 0; i < WIDE; i++) writeFileSync(join(w, 'many', `f${String(i).padStart(5, '0')}`), `${i}\n`);
  execFileSync('mkfs.erofs', ['-T', '1600000000', '--all-root', '--quiet', join(work, 'wide.erofs'), w]);

  const b = join(work, 'big');
  mkdirSync(b);
  const fd = openSync(join(b, 'big.bin'), 'w');
  const piece = Buffer.alloc(1 << 20);
  for (let base = 0; base < BIG; base += piece.length) {
    for (let i = 0; i < piece.length; i++) piece[i] = bigByte(base + i);
    writeSync(fd, piece);
  }
  closeSync(fd);
  execFileSync('mkfs.erofs', ['-T', '1600000000', '--all-root', '--quiet', join(work, 'big.erofs'), b]);
  rmSync(b, { recursive: true });
  copyFileSync(join(NYDUS, V6BLOB), join(work, 'renamed-blob.bin'));
});

test.afterAll(() => {
  for (const s of servers) s.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

failOnPageErrors(test, /Content Security Policy|WebAssembly|net::ERR_FAILED|Failed to load resource/);

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);

async function openSample(page: Page, title: string): Promise<void> {
  await page.goto('/');
  await page.getByTestId('sample').filter({ hasText: title }).click();
  await expect(page.getByTestId('format')).toBeVisible();
}

test('Nydus samples: v5 + lz4 blob, v6 + zstd blob, a blob with its bootstrap inlined', async ({ page }) => {
  await openSample(page, 'Nydus RAFS v5 + lz4 blob');
  await expect(page.getByTestId('format')).toHaveText(/rafs-v5/i);
  await expect(page.getByTestId('image-title')).toContainText('+1 blob');
  await entry(page, 'normal-file-test').click();
  await expect(page.getByTestId('entry').first()).toBeVisible();
  const firstFile = page.locator('[data-testid=entry][data-type=reg]').first();
  await firstFile.click();
  await expect(page.getByTestId('chunk-row').first()).toBeVisible();
  await expect(page.getByTestId('content')).toBeVisible();
  await expect(page.getByTestId('content').getByTestId('error')).toHaveCount(0);
  await shot(page, '20-rafs-v5-chunks');
  await page.getByTestId('tab-blobs').click();
  await expect(page.getByTestId('blob-row')).toHaveCount(1);
  await expect(page.getByTestId('blob-row')).toContainText('d7b86b1e74e3');
  await expect(page.getByTestId('blob-row')).toContainText('lz4');
  await expect(page.getByTestId('cache-info')).toContainText('used');
  await shot(page, '21-rafs-v5-blobs');

  await openSample(page, 'Nydus RAFS v6 + zstd blob');
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await entry(page, 'lib.rs').click();
  await expect(page.getByTestId('text')).toContainText('SPDX-License-Identifier');
  await expect(page.getByTestId('chunk-row').first()).toContainText('#0');
  await shot(page, '22-rafs-v6-file');
  await page.getByTestId('tab-blobs').click();
  await expect(page.getByTestId('blob-row')).toContainText('zstd');
  await expect(page.getByTestId('blob-row')).toContainText('by name');

  await openSample(page, 'Nydus blob with inlined bootstrap');
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await entry(page, 'lib.rs').click();
  await expect(page.getByTestId('text')).toContainText('Copyright');
  await page.getByTestId('tab-blobs').click();
  await expect(page.getByTestId('blob-row')).toContainText('bootstrap inlined in this blob');
});

test('a missing blob is named, and a file with another name can be attached to it', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(NYDUS, 'rafs-v6-zstd.boot'));
  await expect(page.getByTestId('format')).toHaveText(/rafs-v6/i);
  await entry(page, 'lib.rs').click();
  await expect(page.getByTestId('content').getByTestId('error')).toContainText('not supplied');
  await page.getByTestId('tab-blobs').click();
  await expect(page.getByTestId('blob-missing')).toContainText('1 blob is missing');
  await shot(page, '23-blob-missing');
  await page.getByTestId('attach-input').setInputFiles(join(work, 'renamed-blob.bin'));
  await expect(page.getByTestId('blob-row')).toContainText('attached by you');
  await expect(page.getByTestId('blob-missing')).toHaveCount(0);
  await page.getByTestId('tab-files').click();
  await entry(page, 'lib.rs').click();
  await expect(page.getByTestId('text')).toContainText('SPDX-License-Identifier');
});

test('mkfs.erofs variants open and read; an image file shows as a picture', async ({ page }) => {
  await page.goto('/');
  for (const v of ['plain', 'lz4', 'lz4hc', 'chunked']) {
    await page.getByTestId('file-input').setInputFiles(join(work, `${v}.erofs`));
    await expect(page.getByTestId('image-title')).toContainText(`${v}.erofs`);
    await entry(page, 'hello.txt').click();
    await expect(page.getByTestId('text')).toHaveText('hello variants\n');
  }
  await entry(page, 'img').click();
  await entry(page, 'dot.png').click();
  await expect(page.getByTestId('image-preview').locator('img')).toBeVisible();
  const w = await page.getByTestId('image-preview').locator('img').evaluate((i: HTMLImageElement) => i.naturalWidth);
  expect(w).toBe(1);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download').click()]);
  expect(dl.suggestedFilename()).toBe('dot.png');
  expect(statSync(await dl.path()).size).toBe(readFileSync(join(work, 'tree/img/dot.png')).length);
});

test('20k entries: only visible rows exist, keyboard navigation, search by glob and substring', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(work, 'wide.erofs'));
  await entry(page, 'many').click();
  await expect(page.getByTestId('entry-count')).toHaveText(`${WIDE.toLocaleString('en-US')} entries`, { timeout: 30_000 });
  const rows = await page.getByTestId('entry').count();
  expect(rows).toBeLessThan(120);
  // scroll to the end: the last entry appears
  await page.getByTestId('listing-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expect(entry(page, `f${String(WIDE - 1).padStart(5, '0')}`)).toBeVisible();
  await shot(page, '24-virtual-listing-end');

  // keyboard: focus the list, move down to the first file, Left goes up, Enter enters
  await page.getByTestId('listing-scroll').focus();
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await expect(page.getByTestId('details-name')).toHaveText('f00001');
  await page.keyboard.press('ArrowLeft');
  await expect(page.getByTestId('breadcrumbs').getByRole('button')).toHaveCount(1);
  await page.getByTestId('listing-scroll').focus();
  await page.keyboard.press('Home');
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('breadcrumbs')).toContainText('other');

  // search: '/' focuses the box; a glob over the whole image, then Enter opens the first hit
  await page.getByTestId('listing-scroll').focus();
  await page.keyboard.press('/');
  await expect(page.getByTestId('search')).toBeFocused();
  await page.keyboard.type('f1999?');
  await expect(page.getByTestId('search-state')).toContainText('10 matches', { timeout: 30_000 });
  await expect(page.getByTestId('search-hit')).toHaveCount(10);
  await shot(page, '25-search-glob');
  await page.getByTestId('search').fill('needle');
  await expect(page.getByTestId('search-state')).toContainText('1 match', { timeout: 30_000 });
  await page.getByTestId('search').press('ArrowDown');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('details-name')).toHaveText('needle-file.txt');
  await expect(page.getByTestId('text')).toHaveText('found me\n');
  // size sort puts the big directory first, with its total size
  await page.getByTestId('breadcrumbs').getByRole('button').first().click();
  await page.getByTestId('sort-size').click();
  await expect(page.getByTestId('entry').first()).toHaveAttribute('data-name', 'many');
  await expect(entry(page, 'many')).toContainText('KiB');
  await shot(page, '26-size-sort');
});

test('hex view of a 100 MB file: range reads, jump, search; the page never stalls', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(work, 'big.erofs'));
  await page.evaluate(() => {
    const w = window as unknown as { gaps: number[]; beat: boolean };
    w.gaps = [];
    w.beat = true;
    let last = performance.now();
    const tick = (t: number) => {
      w.gaps.push(t - last);
      last = t;
      if (w.beat) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await entry(page, 'big.bin').click();
  await expect(page.getByTestId('detected')).toHaveText('binary');
  const hex = page.getByTestId('hexview');
  await expect(hex.locator('.row').first()).toContainText('00000000');
  await expect(hex.locator('[data-o="17"]')).toHaveText(bigByte(17).toString(16).padStart(2, '0'));
  const target = BIG - 4096 + 5;
  await page.getByTestId('hex-jump').fill('0x' + target.toString(16));
  await page.getByTestId('hex-jump').press('Enter');
  await expect(hex.locator(`[data-o="${target}"]`)).toHaveText(bigByte(target).toString(16).padStart(2, '0'));
  await expect(page.getByTestId('hex-pos')).toContainText(`0x${target.toString(16)}`);
  // scroll through the middle by the scrollbar
  await page.getByTestId('hex-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight / 2));
  await expect(hex.locator('.row').first()).not.toContainText('00000000');
  // find three bytes that occur first at 0x1000*k: the pattern near offset 5000
  const at = 5000;
  const needle = [at, at + 1, at + 2].map((o) => bigByte(o).toString(16).padStart(2, '0')).join(' ');
  await page.getByTestId('hex-find').fill(needle);
  await page.getByTestId('hex-find').press('Enter');
  await expect(page.getByTestId('hex-msg')).toContainText('at ');
  // stop the heartbeat before the screenshot (capturing a frame pauses rendering itself)
  const gaps = await page.evaluate(() => {
    const w = window as unknown as { gaps: number[]; beat: boolean };
    w.beat = false;
    return w.gaps;
  });
  await shot(page, '27-hex-100mb');
  expect(gaps.length).toBeGreaterThan(10);
  console.log(`hex view of 100 MB: max frame gap ${Math.max(...gaps.slice(1)).toFixed(1)} ms over ${gaps.length} frames`);
  expect(Math.max(...gaps.slice(1))).toBeLessThan(100);
  // the URL keeps the offset: reloading returns to it
  await expect(page).not.toHaveURL(/offset=/); // a picked file cannot be reopened from a link
});

test('deep links restore image, path, view and offset; copy link and the CLI line', async ({ page }) => {
  await page.goto('/#sample=sample.erofs&path=/usr/bin/hello&mode=hex&offset=1024');
  await expect(page.getByTestId('details-name')).toHaveText('hello');
  await expect(page.getByTestId('hexview').locator('.row').first()).toContainText('00000400');
  await expect(page.getByTestId('cli-line')).toHaveText('layerscope stat sample.erofs /usr/bin/hello --json');
  await page.reload();
  await expect(page.getByTestId('hexview').locator('.row').first()).toContainText('00000400');
  await page.getByTestId('tab-structure').click();
  await expect(page).toHaveURL(/view=structure/);
  await page.reload();
  await expect(page.getByTestId('structure-view')).toBeVisible();
  await expect(page.getByTestId('struct-field').filter({ hasText: 'magic' }).first()).toBeVisible();
  await page.getByTestId('copy-link').click();
  await expect(page.getByTestId('copy-link')).toHaveText('Copied ✓');
  // a RAFS sample with blobs reopens from its link too
  await page.goto('/#sample=nydus/rafs-v6-zstd.boot&path=/lib.rs');
  await page.reload();
  await expect(page.getByTestId('text')).toContainText('SPDX-License-Identifier');
  await expect(page.getByTestId('cli-line')).toContainText(`--blob ${V6BLOB}`);
});

test('structure view: a field highlights its bytes, a byte selects its field', async ({ page }) => {
  await page.goto('/#sample=sample.erofs&path=/etc/os-release&view=structure');
  const magic = page.getByTestId('struct-field').filter({ hasText: /^magic/ }).first();
  await expect(magic).toBeVisible();
  await magic.click();
  await expect(magic).toHaveClass(/sel/);
  const hex = page.getByTestId('structure-hex');
  // EROFS magic e2 e1 f5 e0 at 1024
  await expect(hex.locator('[data-o="1024"]')).toHaveClass(/hl/);
  await expect(hex.locator('[data-o="1024"]')).toHaveText('e2');
  await expect(hex.locator('[data-o="1027"]')).toHaveClass(/hl/);
  await expect(hex.locator('[data-o="1028"]')).not.toHaveClass(/hl/);
  await shot(page, '28-structure-superblock');
  // click a byte of blkszbits (offset 12 in the superblock) → that field is selected
  await hex.locator('[data-o="1036"]').click();
  await expect(page.locator('[data-testid=struct-field].sel')).toContainText('blkszbits');
  // the inode of the selected file is decoded too, at its absolute offset
  await expect(page.getByText(/inode_(compact|extended) \(nid/)).toBeVisible();
  await page.locator('[data-testid=struct-field]', { hasText: 'i_size' }).first().click();
  await expect(page).toHaveURL(/offset=/);
  await shot(page, '29-structure-inode');
});

test('stats, verify with progress, export as tar through the save picker', async ({ page }) => {
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async (o?: { suggestedName?: string }) =>
      (await navigator.storage.getDirectory()).getFileHandle(o?.suggestedName ?? 'out', { create: true });
  });
  await openSample(page, 'Nydus RAFS v5 + lz4 blob');
  await page.getByTestId('tab-stats').click();
  await expect(page.getByTestId('stat-dedup')).toContainText('×');
  await expect(page.getByTestId('hist-files').locator('tr').first()).toBeVisible();
  await expect(page.getByTestId('hist-chunks').locator('tr').first()).toBeVisible();
  await expect(page.getByTestId('stat-types')).toContainText('directory');
  await shot(page, '30-stats-rafs');
  await page.getByTestId('tab-tools').click();
  await page.getByTestId('verify-start').click();
  await expect(page.getByTestId('verify-result')).toContainText('No problems found', { timeout: 30_000 });
  await shot(page, '31-verify-ok');
  await page.getByTestId('export-all').click();
  await expect(page.getByTestId('task')).toContainText('Exported', { timeout: 30_000 });
  const tar = await page.evaluate(async () => {
    const f = await (await (await navigator.storage.getDirectory()).getFileHandle('image.tar')).getFile();
    const b = new Uint8Array(await f.arrayBuffer());
    return { size: b.length, magic: new TextDecoder().decode(b.subarray(257, 262)) };
  });
  expect(tar.magic).toBe('ustar');
  expect(tar.size % 512).toBe(0);
  expect(tar.size).toBeGreaterThan(100_000);
  // EROFS: verify reads every file
  await openSample(page, 'EROFS, lz4hc');
  await page.getByTestId('tab-tools').click();
  await page.getByTestId('verify-start').click();
  await expect(page.getByTestId('verify-result')).toContainText('No problems found');
  await page.getByTestId('tab-stats').click();
  await expect(page.getByTestId('stat-entries')).not.toHaveText('0');
  await shot(page, '32-stats-erofs');
});

function serve(dir: string, range: boolean): Promise<string> {
  const srv = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url!, 'http://x').pathname.slice(1));
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    let body: Buffer;
    try {
      body = readFileSync(join(dir, name));
    } catch {
      return void res.writeHead(404).end();
    }
    const m = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? '');
    if (range && m) {
      const start = Number(m[1]);
      const end = Math.min(body.length - 1, m[2] ? Number(m[2]) : body.length - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${body.length}`, 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' });
      return void res.end(body.subarray(start, end + 1));
    }
    res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  servers.push(srv);
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(srv.address() as { port: number }).port}`)));
}

test('?url= opens a remote image through HTTP Range, and says so plainly when Range is missing', async ({ page }) => {
  const good = await serve(work, true);
  await page.goto(`/?url=${encodeURIComponent(`${good}/lz4.erofs`)}`);
  await expect(page.getByTestId('image-title')).toContainText('lz4.erofs');
  await entry(page, 'hello.txt').click();
  await expect(page.getByTestId('text')).toHaveText('hello variants\n');
  await expect(page).toHaveURL(/#url=.*lz4\.erofs&path=\/hello\.txt/);
  await shot(page, '33-url-range');
  const bad = await serve(work, false);
  await page.goto(`/?url=${encodeURIComponent(`${bad}/lz4.erofs`)}`);
  await expect(page.getByTestId('error')).toContainText('ignored the Range header');
  await shot(page, '34-url-no-range');
});

test('CSP refuses WebAssembly; recents remember what was opened; offline after the first load', async ({ page, context }) => {
  await page.goto('/');
  const wasm = await page.evaluate(async () => {
    // the smallest valid module: magic + version
    try {
      await WebAssembly.instantiate(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
      return 'instantiated';
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  });
  expect(wasm).toMatch(/CompileError|EvalError/);
  expect(wasm).toMatch(/Content Security Policy|unsafe-eval|wasm/i);
  await page.getByTestId('sample').filter({ hasText: 'EROFS, uncompressed' }).click();
  await expect(page.getByTestId('format')).toBeVisible();
  // the recent list is written to IndexedDB just after opening: wait for the write before leaving
  // the page (a navigation would cancel it). Probe without creating the database idb-keyval will make.
  await expect.poll(() => page.evaluate(async () => {
    if (!(await indexedDB.databases()).some((d) => d.name === 'layerscope-recents')) return 0;
    return new Promise<number>((ok) => {
      const req = indexedDB.open('layerscope-recents');
      req.onerror = () => ok(0);
      req.onsuccess = () => {
        try {
          const g = req.result.transaction('recents').objectStore('recents').get('recent');
          g.onsuccess = () => { ok((g.result ?? []).length); req.result.close(); };
          g.onerror = () => ok(0);
        } catch {
          ok(0);
        }
      };
    });
  }), { timeout: 15_000 }).toBeGreaterThan(0);
  await page.goto('/');
  await expect(page.getByTestId('welcome')).toBeVisible();
  await expect(page.getByTestId('recent').first()).toContainText('sample.erofs');
  await shot(page, '35-welcome-recents');
  // the service worker controls the page after a reload; then the page loads without a network
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  await expect.poll(() => page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  await page.waitForTimeout(300);
  await context.setOffline(true);
  await page.reload();
  await expect(page.getByTestId('welcome')).toBeVisible();
  await context.setOffline(false);
});
