// Images by mkfs.erofs 1.9.3 (../shared/fixtures/erofs-modern) in the page: the structure view
// decodes the 1.9 superblock fields, compression config records, the long xattr prefix table, map
// headers, extent records and extents; a compressed file's details show its algorithm, pcluster
// sizes and where its fragment lives; a file using a layout we do not read says so without calling
// the image damaged. Expected values come from the image bytes (read here by the spec's offsets), the
// mkfs command lines in IMAGES.txt and the kernel's manifests, not from Layerscope.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failOnPageErrors } from './helpers/page-errors.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');
const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'erofs-modern');
const SB = 1024;

failOnPageErrors(test);

/** `mkfs.erofs` command line of a fixture, from IMAGES.txt */
function mkfsLine(name: string): string {
  const line = readFileSync(join(FIX, 'IMAGES.txt'), 'utf8').split('\n').find((l) => l.startsWith(name + '|'));
  if (!line) throw new Error(`${name} is not in IMAGES.txt`);
  return line.split('|')[2]!;
}
/** a file's size as the kernel saw it */
function kernelSize(name: string, path: string): number {
  for (const l of readFileSync(join(FIX, `${name}.erofs.manifest.jsonl`), 'utf8').split('\n')) {
    if (!l) continue;
    const e = JSON.parse(l) as { path: string; size?: number };
    if (e.path === path) return e.size!;
  }
  throw new Error(`${path} is not in the ${name} manifest`);
}
const image = (name: string): Buffer => readFileSync(join(FIX, `${name}.erofs`));
const group = (n: number | bigint): string => n.toLocaleString('en-US');

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}
const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name}"]`);
/** a struct table of the structure view whose title holds `title` */
const table = (page: Page, title: string) => page.locator(`[data-testid=struct-table][data-title*="${title}"]`);
/** a field row of a struct table by its exact name */
const field = (page: Page, title: string, name: string) => table(page, title).locator(`[data-testid=struct-field][data-name="${name}"]`);
const u64 = (b: Buffer, at: number): number => Number(b.readBigUInt64LE(at));

async function open(page: Page, file: string): Promise<void> {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(file);
  await expect(page.getByTestId('format')).toHaveText(/erofs/i);
}
async function select(page: Page, path: string): Promise<void> {
  const parts = path.split('/').filter(Boolean);
  for (const p of parts) await entry(page, p).click();
  await expect(page.getByTestId('details-name')).toHaveText(parts[parts.length - 1]!);
}
const utc = (s: number): string => `${new Date(s * 1000).toISOString().replace('.000Z', '')} UTC`;

test('all fragments, LZMA: the file lives in the packed inode, shown with its pcluster', async ({ page }) => {
  const name = 'lzma-C128k-ztail-allfrag-dedupe';
  expect(mkfsLine(name)).toContain('-zlzma -C131072');
  expect(mkfsLine(name)).toContain('all-fragments');
  const b = image(name);
  const packed = u64(b, SB + 96);
  const size = kernelSize(name, '/data/log-200k.txt');
  await open(page, join(FIX, `${name}.erofs`));
  await select(page, '/data/log-200k.txt');
  await expect(page.getByTestId('compression-algorithm')).toHaveText('lzma (fragment)');
  const frag = page.getByTestId('compression-fragment');
  await expect(frag).toContainText(`the whole file: bytes `);
  await expect(frag).toContainText(`of the packed inode (nid ${packed})`);
  // the fragment's span in the packed inode is the file's size
  const [from, to] = (/bytes ([\d,]+)–([\d,]+) of the packed inode/.exec((await frag.textContent())!) ?? []).slice(1).map((x) => Number(x!.replace(/,/g, '')));
  expect(to! - from!).toBe(size);
  // held in LZMA pclusters of at most -C131072 bytes, inside the image
  const pcl = /in a ([\d.]+) (KiB|B) lzma pcluster at byte ([\d,]+) of the image/.exec((await frag.textContent())!);
  expect(pcl).not.toBeNull();
  const bytes = Number(pcl![1]) * (pcl![2] === 'KiB' ? 1024 : 1);
  expect(bytes).toBeGreaterThan(0);
  expect(bytes).toBeLessThanOrEqual(131072);
  expect(Number(pcl![3]!.replace(/,/g, '')) + bytes).toBeLessThanOrEqual(b.length);
  await expect(page.getByTestId('text')).toContainText(/\S/);
  await page.getByTestId('compression').scrollIntoViewIfNeeded();
  await shot(page, 'modern-01-fragment-details');

  await page.getByTestId('tab-structure').click();
  await expect(field(page, 'erofs.superblock', 'packed_nid')).toContainText(`packed inode nid ${packed}`);
  await expect(field(page, 'erofs.compr_cfg: lzma', 'dict_size')).toContainText('dictionary');
  await expect(field(page, 'erofs.z_map_header', 'h_clusterbits')).toContainText('the whole file is a fragment');
  await expect(table(page, 'extents (1)')).toContainText(`logical 0..${size}: fragment`);
  await table(page, 'erofs.z_map_header').scrollIntoViewIfNeeded();
  await shot(page, 'modern-02-fragment-structure');
});

test('zstd: config record, map header and extents decoded; an extent selects its pcluster bytes', async ({ page }) => {
  const name = 'zstd';
  expect(mkfsLine(name)).toContain('-zzstd');
  const b = image(name);
  const bs = 2 ** b[SB + 12]!;
  await open(page, join(FIX, `${name}.erofs`));
  await select(page, '/data/log-200k.txt');
  await expect(page.getByTestId('compression-algorithm')).toHaveText('zstd');
  // no -C: every pcluster is one block
  await expect(page.getByTestId('compression-pclusters')).toContainText(`× ${bs / 1024} KiB`);
  await page.getByTestId('compression').scrollIntoViewIfNeeded();
  await shot(page, 'modern-03-zstd-details');

  await page.getByTestId('tab-structure').click();
  await expect(field(page, 'erofs.superblock', 'build_time')).toContainText(`epoch ${utc(Number(b.readBigInt64LE(SB + 24)))}`);
  await expect(field(page, 'erofs.superblock', 'blkszbits')).toContainText(`${bs / 1024} KiB blocks`);
  await expect(field(page, 'erofs.compr_cfg: zstd', 'windowlog')).toContainText(/window \d+ KiB/);
  await expect(field(page, 'erofs.z_map_header', 'h_algorithmtype')).toContainText('HEAD1 zstd');
  const first = table(page, 'extents (').locator('[data-testid=struct-field]').first();
  await expect(first).toContainText(/logical 0\.\.\d+: zstd/);
  const at = Number((await first.locator('td').nth(1).textContent())!.trim().split(' ')[0]);
  expect(at % bs).toBe(0);
  await first.click();
  const hex = page.getByTestId('structure-hex');
  await expect(hex.locator(`[data-o="${at}"]`)).toHaveClass(/hl/);
  // the hex view scrolls to the pcluster and renders the rows in sight
  await expect(hex.locator(`[data-o="${at + 15}"]`)).toHaveClass(/hl/);
  await shot(page, 'modern-04-zstd-structure');
});

test('metabox and 48-bit: extension slot, 8-byte root nid, inodes in the metabox', async ({ page }) => {
  const name = 'metabox';
  expect(mkfsLine(name)).toContain('-m4096');
  const b = image(name);
  const extslots = b[SB + 13]!;
  const metabox = u64(b, SB + 128);
  const root8 = b.readBigUInt64LE(SB + 112);
  expect(extslots).toBeGreaterThan(0);
  await open(page, join(FIX, `${name}.erofs`));
  await select(page, '/bin/tool');
  await page.getByTestId('tab-structure').click();
  await expect(field(page, 'erofs.superblock', 'sb_extslots')).toContainText(`superblock of ${128 + 16 * extslots} bytes`);
  await expect(field(page, 'erofs.superblock', 'metabox_nid')).toContainText(`metabox inode nid ${metabox}`);
  await expect(field(page, 'erofs.superblock', 'rootnid_8b')).toContainText(`root nid 0x${root8.toString(16).padStart(16, '0')}`);
  await expect(field(page, 'erofs.superblock', 'root_nid')).toContainText(`blocks_hi: ${b.readUInt16LE(SB + 14)}`);
  // the inode of /bin/tool is in the metabox: its offsets are the metabox's
  const title = page.getByTestId('struct-title').filter({ hasText: /inode_(compact|extended)/ });
  await expect(title).toContainText('offsets in the metabox');
  await title.scrollIntoViewIfNeeded();
  await shot(page, 'modern-05-metabox-structure');
});

test('long xattr prefixes: the table is decoded', async ({ page }) => {
  const name = 'xattr-prefix';
  const prefix = /--xattr-prefix=(\S+)/.exec(mkfsLine(name))![1]!;
  expect(prefix.startsWith('user.')).toBe(true);
  await open(page, join(FIX, `${name}.erofs`));
  await select(page, '/bin/tool');
  await page.getByTestId('tab-structure').click();
  await expect(field(page, 'erofs.xattr_long_prefix', 'prefix[0].base_index')).toContainText('"user."');
  await expect(field(page, 'erofs.xattr_long_prefix', 'prefix[0].infix')).toContainText(prefix.slice('user.'.length));
  await expect(field(page, 'erofs.xattr_long_prefix', 'prefix[0].infix')).toContainText(`"${prefix}"`);
  await table(page, 'erofs.xattr_long_prefix').scrollIntoViewIfNeeded();
  await shot(page, 'modern-06-xattr-prefix-table');
});

test('48-bit zstd: encoded extent records', async ({ page }) => {
  const name = '48bit-zstd';
  expect(mkfsLine(name)).toContain('-E48bit');
  const b = image(name);
  const bs = 2 ** b[SB + 12]!;
  const size = kernelSize(name, '/sizes/text-8192');
  await open(page, join(FIX, `${name}.erofs`));
  await select(page, '/sizes/text-8192');
  await expect(page.getByTestId('compression-algorithm')).toContainText('zstd');
  await expect(page.getByTestId('details')).toContainText('encoded extents');
  await page.getByTestId('compression').scrollIntoViewIfNeeded();
  await shot(page, 'modern-07-48bit-details');
  await page.getByTestId('tab-structure').click();
  // one record per lcluster (a block here) with 4-byte records
  await expect(table(page, `erofs.z_extent × ${Math.ceil(size / bs)}`)).toBeVisible();
  await expect(field(page, 'erofs.z_extent', '[0].plen')).toContainText('bytes, zstd');
  await table(page, 'erofs.z_extent').scrollIntoViewIfNeeded();
  await shot(page, 'modern-08-48bit-extents');
});

test('a file in a layout Layerscope does not read: the reason, not "damaged"; the rest still reads', async ({ page }) => {
  const work = mkdtempSync(join(tmpdir(), 'ls-modern-'));
  try {
    const name = 'zstd';
    const b = image(name);
    // where /data/log-200k.txt's map header is (any reader's answer will do to find the byte)
    const stat = JSON.parse(execFileSync('node', [join(import.meta.dirname, '..', 'bin', 'layerscope.mjs'), 'stat', join(FIX, `${name}.erofs`), '/data/log-200k.txt', '--json'], { encoding: 'utf8' })) as { layout: { data: { headerOffset: number } } };
    const h = stat.layout.data.headerOffset;
    expect(b[h + 7]).toBe(0);
    // 8 KiB lclusters in 2-byte compact packs: valid by the format, not read by Layerscope
    b[h + 7] = 1;
    const file = join(work, 'zstd-8k-lclusters.erofs');
    writeFileSync(file, b);
    await open(page, file);
    await select(page, '/data/log-200k.txt');
    const err = page.locator('[data-testid=error][data-error-name=UnsupportedError]').first();
    await expect(err).toBeVisible();
    await expect(err.getByTestId('unsupported-note')).toContainText('The image is not damaged');
    await expect(page.locator('[data-testid=error][data-error-name=FormatError]')).toHaveCount(0);
    await shot(page, 'modern-09-unsupported-file');
    await page.keyboard.press('Backspace');
    await select(page, '/bin/tool');
    await expect(page.locator('[data-testid=error]')).toHaveCount(0);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
