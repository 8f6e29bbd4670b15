// The first page on real images: made by mkfs.erofs from a temp tree with known content, opened by
// the file picker, by a drop, as a sample over HTTP Range and from a link; plus a non-image file.
import { test, expect, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failOnPageErrors } from './helpers/page-errors.ts';
import { dropPaths } from './helpers/drop.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');

/** deterministic bytes that are clearly not text */
function binaryBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  b[0] = 0x00;
  b[1] = 0xff;
  return b;
}

/** a text longer than the first read (64 KiB), so "load more" has something to load */
function bigText(): string {
  const lines: string[] = [];
  for (let i = 1; i <= 2500; i++) lines.push(`line ${String(i).padStart(4, '0')} of the big text file, some filler to make it long`);
  return lines.join('\n') + '\n';
}

const HELLO = 'Hello, Layerscope!\nSecond line with UTF-8: café ☕\n';
const NESTED = 'deeply nested file\n';
const DATA = binaryBytes(5000);
const BIG = bigText();
const LATIN1_NAME = Buffer.from('caf\xe9.txt', 'latin1');

const MANY = 1234;
const DEVICE_TEXT = 'this content is stored on the extra device\n';

let work: string;
let image: string;
let badInodeOffset: number;

test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ls-e2e-'));
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'dir/sub'), { recursive: true });
  mkdirSync(join(tree, 'bin'));
  writeFileSync(join(tree, 'hello.txt'), HELLO);
  writeFileSync(join(tree, 'dir/sub/nested.txt'), NESTED);
  writeFileSync(join(tree, 'bin/data.bin'), DATA);
  writeFileSync(join(tree, 'big.txt'), BIG);
  writeFileSync(Buffer.concat([Buffer.from(tree + '/'), LATIN1_NAME]), 'latin-1 name\n');
  symlinkSync('hello.txt', join(tree, 'link'));
  image = join(work, 'test.erofs');
  execFileSync('mkfs.erofs', ['-T', '1600000000', '-U', '11111111-2222-3333-4444-555555555555', '--all-root', '--quiet', image, tree]);
  writeFileSync(join(work, 'not-an-image.bin'), binaryBytes(9000));

  // an image whose file data lives on an extra device (mkfs.erofs --blobdev), in a folder of its own
  const small = join(work, 'small');
  mkdirSync(join(small, 'etc'), { recursive: true });
  writeFileSync(join(small, 'hello.txt'), DEVICE_TEXT);
  writeFileSync(join(small, 'etc/hostname'), 'layerscope\n');
  mkdirSync(join(work, 'with-device'));
  execFileSync('mkfs.erofs', ['--chunksize=4096', `--blobdev=${join(work, 'with-device/blob.img')}`, '-T', '1600000000', '--all-root', '--quiet', join(work, 'with-device/chunked.erofs'), small]);

  // a directory larger than one page of the listing, and a directory whose name is not UTF-8
  const wide = join(work, 'wide');
  mkdirSync(join(wide, 'many'), { recursive: true });
  for (let i = 0; i < MANY; i++) writeFileSync(join(wide, 'many', `f${String(i).padStart(4, '0')}`), `${i}\n`);
  const latinDir = Buffer.concat([Buffer.from(wide + '/'), Buffer.from('b\xe4d', 'latin1')]);
  mkdirSync(latinDir);
  writeFileSync(Buffer.concat([latinDir, Buffer.from('/inside.txt')]), 'inside a latin-1 directory\n');
  execFileSync('mkfs.erofs', ['-T', '1600000000', '--all-root', '--quiet', join(work, 'wide.erofs'), wide]);

  // damaged images: a superblock field, and one inode's i_mode (no sb checksum, so only the inode is bad)
  const badSb = readFileSync(image);
  badSb[1024 + 12] = 99; // blkszbits
  writeFileSync(join(work, 'bad-superblock.erofs'), badSb);
  const plain = join(work, 'plain.erofs');
  execFileSync('mkfs.erofs', ['-Enosbcrc', '-T', '1600000000', '--all-root', '--quiet', plain, small]);
  const nid = Number(/NID:\s*(\d+)/.exec(execFileSync('dump.erofs', ['--path=/hello.txt', plain], { encoding: 'utf8' }))![1]);
  badInodeOffset = nid * 32 + 4; // meta_blkaddr is 0 in these small images; i_mode is at +4
  const badInode = readFileSync(plain);
  badInode.writeUInt16LE(0, badInodeOffset);
  writeFileSync(join(work, 'bad-inode.erofs'), badInode);
});

test.afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** every console error and uncaught exception of the page, checked empty at the end of each test */
failOnPageErrors(test);

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

const entries = (page: Page) => page.getByTestId('entry');
const entry = (page: Page, name: string) => page.locator(`[data-testid=entry][data-name="${name.replace(/\\/g, '\\\\')}"]`);

/** the hex view shows each byte in a cell named by its absolute offset */
async function expectHex(page: Page, b: Buffer, offsets: number[]): Promise<void> {
  for (const o of offsets) await expect(page.getByTestId('hexview').locator(`[data-o="${o}"]`)).toHaveText(b[o]!.toString(16).padStart(2, '0'));
}

async function expectRoot(page: Page): Promise<void> {
  await expect(page.getByTestId('format')).toHaveText(/erofs/i);
  // EROFS stores names in memcmp order; the page keeps the image's order
  await expect(entries(page)).toHaveCount(6);
  const names = await entries(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));
  expect(names).toEqual(['big.txt', 'bin', 'caf\\xe9.txt', 'dir', 'hello.txt', 'link']);
}

test('open by the file picker, walk the tree, see text and hex', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('welcome')).toBeVisible();
  await shot(page, '01-welcome');

  await page.getByTestId('file-input').setInputFiles(image);
  await expectRoot(page);
  await expect(page.getByTestId('image-title')).toContainText('test.erofs');
  await expect(entry(page, 'hello.txt')).toContainText(`${Buffer.byteLength(HELLO)} B`);
  await expect(entry(page, 'hello.txt')).toContainText('-rw-r--r--');
  await expect(entry(page, 'hello.txt')).toContainText('2020-09-13 12:26:40');
  await expect(entry(page, 'link')).toContainText('→ hello.txt');
  await expect(entry(page, 'caf\\xe9.txt')).toContainText('not UTF-8');
  await shot(page, '02-root');

  // into dir/sub by clicks; breadcrumbs follow
  await entry(page, 'dir').click();
  await expect(page.getByTestId('breadcrumbs')).toContainText('dir');
  await expect(entries(page)).toHaveCount(1);
  await entry(page, 'sub').click();
  await expect(page.getByTestId('breadcrumbs')).toContainText('sub');
  await entry(page, 'nested.txt').click();
  await expect(page.getByTestId('details-name')).toHaveText('nested.txt');
  await expect(page.getByTestId('text')).toHaveText(NESTED);
  await expect(page.getByTestId('detected')).toHaveText('UTF-8 text');
  await shot(page, '03-nested-text');

  // back to the root by the breadcrumb, then a binary file: hex by default
  await page.getByTestId('breadcrumbs').getByRole('button').first().click();
  await expectRoot(page);
  await entry(page, 'bin').click();
  await entry(page, 'data.bin').click();
  await expect(page.getByTestId('detected')).toHaveText('binary');
  await expectHex(page, DATA, [0, 15, 16, 255]);
  await page.getByTestId('hex-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await expectHex(page, DATA, [4976, 4999]);
  await expect(page.getByTestId('shown')).toHaveText('5,000 bytes · read as you scroll');
  await shot(page, '04-binary-hex');

  // a text file, switched to hex and back
  await page.keyboard.press('Backspace');
  await expect(page.getByTestId('breadcrumbs').getByRole('button')).toHaveCount(1);
  await entry(page, 'hello.txt').click();
  await expect(page.getByTestId('text')).toHaveText(HELLO);
  await page.getByTestId('view-hex').click();
  await expectHex(page, Buffer.from(HELLO), [0, Buffer.byteLength(HELLO) - 1]);
  await shot(page, '05-text-as-hex');
  await page.getByTestId('view-text').click();
  await expect(page.getByTestId('text')).toHaveText(HELLO);

  // only the first 64 KiB of a big file, then the rest on request
  await entry(page, 'big.txt').click();
  await expect(page.getByTestId('shown')).toHaveText(/^first 64 KiB of /);
  const text = page.getByTestId('text');
  await expect(text).toContainText('line 0001 of the big text file');
  await expect(text).not.toContainText('line 2500');
  await shot(page, '06-big-first-chunk');
  const shown = page.getByTestId('shown');
  for (let i = 0; i < 10 && (await shown.textContent())!.startsWith('first'); i++) {
    const before = (await shown.textContent())!;
    await page.getByTestId('load-more').click();
    await expect(shown).not.toHaveText(before);
  }
  await expect(page.getByTestId('shown')).toHaveText(`all ${Buffer.byteLength(BIG).toLocaleString('en-US')} bytes`);
  expect(await text.textContent()).toBe(BIG);

  // a symlink shows its target
  await entry(page, 'link').click();
  await expect(page.getByTestId('symlink-target')).toHaveText('hello.txt');
  await shot(page, '07-symlink');
  await page.getByTestId('follow').click();
  await expect(page.getByTestId('details-name')).toHaveText('hello.txt');
  await expect(page.getByTestId('text')).toHaveText(HELLO);
});

test('open by dropping a file on the page', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('welcome')).toBeVisible();
  const b64 = readFileSync(image).toString('base64');
  const dt = await page.evaluateHandle((data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const d = new DataTransfer();
    d.items.add(new File([bytes], 'dropped.erofs'));
    return d;
  }, b64);
  await page.locator('body').dispatchEvent('dragover', { dataTransfer: dt });
  await expect(page.getByText('Drop to open')).toBeVisible();
  await shot(page, '08-drag-over');
  await page.locator('body').dispatchEvent('drop', { dataTransfer: dt });
  await expectRoot(page);
  await expect(page.getByTestId('image-title')).toContainText('dropped.erofs');
  await entry(page, 'hello.txt').click();
  await expect(page.getByTestId('text')).toHaveText(HELLO);
  await shot(page, '09-dropped');
});

test('a file that is no image is refused plainly', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(work, 'not-an-image.bin'));
  const err = page.getByTestId('error');
  await expect(err).toContainText('Could not open not-an-image.bin');
  await expect(err).toContainText('image at byte 0');
  await expect(err).toContainText('no known magic');
  await shot(page, '10-not-an-image');
});

test('a sample opens over HTTP Range and a link reopens a path', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('sample').filter({ hasText: 'sample.erofs' }).click();
  await expect(page.getByTestId('format')).toHaveText(/erofs/i);
  await expect(entry(page, 'README.md')).toBeVisible();
  await expect(entry(page, 'usr')).toBeVisible();
  await entry(page, 'etc').click();
  await entry(page, 'os-release').click();
  await expect(page.getByTestId('text')).toContainText('PRETTY_NAME="Layerscope Sample 1.0"');
  await expect(page).toHaveURL(/#sample=sample\.erofs&path=\/etc\/os-release$/);
  await page.getByTestId('facts-toggle').click();
  await expect(page.getByTestId('facts-all')).toContainText('4c617965-7273-636f-7065-000000000001');
  await shot(page, '11-sample');
  await page.getByTestId('facts-toggle').click();

  // xattrs and the hardlink count of README.md; a dangling symlink is reported, not followed
  await page.getByTestId('breadcrumbs').getByRole('button').first().click();
  await entry(page, 'README.md').click();
  await expect(page.getByTestId('xattrs')).toContainText('user.comment');
  await expect(page.getByTestId('xattrs')).toContainText('made by make-samples.sh');
  await expect(page.getByTestId('attrs')).toContainText(/links\s*2/);
  await entry(page, 'data').click();
  await entry(page, 'dangling').click();
  await page.getByTestId('follow').click();
  await expect(page.getByTestId('error')).toContainText('Could not go to /nonexistent/target');
  await expect(page.getByTestId('details-name')).toHaveText('dangling');
  await shot(page, '12-dangling-link');

  // the other sample from the menu of an open image
  await page.getByText('Samples & URL').click();
  await shot(page, '12b-samples-menu');
  await page.getByTestId('menu-sample').filter({ hasText: 'sample-lz4hc.erofs' }).click();
  await expect(page.getByTestId('image-title')).toContainText('sample-lz4hc.erofs');
  await expect(page.getByTestId('facts')).toContainText('lz4');
  await expect(page.getByTestId('menu-sample').first()).toBeHidden();

  await page.goto('/#sample=sample-lz4hc.erofs&path=/usr/share/doc/demo/changelog.txt');
  await page.reload();
  await expect(page.getByTestId('details-name')).toHaveText('changelog.txt');
  await expect(page.getByTestId('text')).toContainText('00001  release note line 1:');
  await shot(page, '13-deep-link-lz4hc');
});

test('an image with an extra device: picked together, or dropped as a folder', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles([join(work, 'with-device/chunked.erofs'), join(work, 'with-device/blob.img')]);
  await expect(page.getByTestId('image-title')).toContainText('chunked.erofs');
  await expect(page.getByTestId('image-title')).toContainText('+1 blob');
  await expect(page.getByTestId('facts')).toContainText('1 extra, 1 given');
  await entry(page, 'hello.txt').click();
  await expect(page.getByTestId('text')).toHaveText(DEVICE_TEXT);
  await shot(page, '14-extra-device');

  // without the device the image opens, says what is missing, and a read fails plainly
  await page.getByTestId('file-input').setInputFiles(join(work, 'with-device/chunked.erofs'));
  await expect(page.getByTestId('image-title')).not.toContainText('blob');
  await expect(page.getByTestId('facts')).toContainText('1 extra device not given');
  await entry(page, 'hello.txt').click();
  await expect(page.getByTestId('content').getByTestId('error')).toContainText('extra device 1 of 1 was not supplied');
  await shot(page, '15-extra-device-missing');

  // a real folder drop (CDP): directory entries are walked, the image is told from its blob
  await page.goto('/');
  await expect(page.getByTestId('welcome')).toBeVisible();
  await dropPaths(page, [join(work, 'with-device')]);
  await expect(page.getByTestId('image-title')).toContainText('chunked.erofs');
  await expect(page.getByTestId('image-title')).toContainText('+1 blob');
  await entry(page, 'hello.txt').click();
  await expect(page.getByTestId('text')).toHaveText(DEVICE_TEXT);
});

test('damaged images are reported with structure and byte offset', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(work, 'bad-superblock.erofs'));
  await expect(page.getByTestId('error')).toContainText('erofs.superblock at byte 1036');
  await expect(page.getByTestId('error')).toContainText('blkszbits 99');
  await expect(page.getByTestId('welcome')).toBeVisible();
  await shot(page, '16-bad-superblock');

  // one bad inode: the directory still lists, that entry carries the error
  await page.getByTestId('file-input').setInputFiles(join(work, 'bad-inode.erofs'));
  await expect(entry(page, 'etc')).toBeVisible();
  const bad = entry(page, 'hello.txt');
  await expect(bad).toContainText(`erofs.inode at byte ${badInodeOffset}`);
  await bad.click();
  await expect(page.getByTestId('details').getByTestId('error')).toContainText(`erofs.inode at byte ${badInodeOffset}`);
  await expect(page.getByTestId('details').getByTestId('error')).toContainText('names no file type');
  await shot(page, '17-bad-inode');
  await entry(page, 'etc').click();
  await entry(page, 'hostname').click();
  await expect(page.getByTestId('text')).toHaveText('layerscope\n');
});

test('a directory larger than a page streams in all its pages; a non-UTF-8 directory is navigable', async ({ page }) => {
  await page.goto('/');
  await page.getByTestId('file-input').setInputFiles(join(work, 'wide.erofs'));
  await entry(page, 'many').click();
  await expect(page.getByTestId('entry-count')).toHaveText(`${MANY.toLocaleString('en-US')} entries`);
  // rows are virtualised: walk the list by scrolling and collect every name once
  const seen = new Set<string>();
  const scroller = page.getByTestId('listing-scroll');
  for (let top = 0; top < MANY * 26 + 400; top += 400) {
    await scroller.evaluate((el, t) => (el.scrollTop = t), top);
    await page.waitForTimeout(10);
    for (const n of await entries(page).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))) seen.add(n!);
  }
  expect([...seen].sort()).toEqual(Array.from({ length: MANY }, (_, i) => `f${String(i).padStart(4, '0')}`));
  await entry(page, `f${MANY - 1}`).click();
  await expect(page.getByTestId('text')).toHaveText(`${MANY - 1}\n`);
  await shot(page, '18-big-directory');

  await page.getByTestId('breadcrumbs').getByRole('button').first().click();
  await entry(page, 'b\\xe4d').click();
  await expect(page.getByTestId('breadcrumbs')).toContainText('b\\xe4d');
  await entry(page, 'inside.txt').click();
  await expect(page.getByTestId('details')).toContainText('/b\\xe4d/inside.txt');
  await expect(page.getByTestId('text')).toHaveText('inside a latin-1 directory\n');
  await shot(page, '19-non-utf8-directory');
});
