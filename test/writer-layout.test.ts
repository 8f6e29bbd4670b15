// Writers check their own layout: every inode, xattr area and entry, inline tail, shared xattr and
// data block is emitted where the plan put it, or the build fails naming the position. Emission is
// broken here on purpose (an inline xattr entry dropped, a dirent left out of a directory block)
// through the emitter table the EROFS, composefs and RAFS v6 writers call; before the check the EROFS and composefs
// writers padded over the gap and reported success. Also: a deep tree with the longest symlink
// target a tree may hold builds with every writer and reads back (fsck.erofs --extract for the
// EROFS-based ones), where the composefs writer once planned one block and wrote two.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openComposefs } from '../src/lib/composefs/reader.ts';
import { measureComposefs } from '../src/lib/composefs/writer.ts';
import { openErofs } from '../src/lib/erofs/reader.ts';
import { emitters } from '../src/lib/erofs/writer-common.ts';
import { measureErofs } from '../src/lib/erofs/writer.ts';
import { LayoutError } from '../src/lib/erofs/writer-output.ts';
import { PATH_MAX } from '../src/lib/fs/entries.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import type { SourceInode, SourceTree, Xattr } from '../src/lib/fs/tree.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { build, dir, file, symlink, treeOf, type Format } from './helpers/craft.ts';

const enc = new TextEncoder();
const EROFS_BASED: Format[] = ['erofs', 'composefs'];

// two inline xattrs with values no other inode has (so neither is shared)
const DROP: Xattr = { name: enc.encode('user.a-drop'), value: enc.encode('dropped-value!') };
const KEEP: Xattr = { name: enc.encode('user.b-keep'), value: enc.encode('kept-value') };
/** bytes of one xattr entry: 4-byte header, name suffix after "user.", value, padded to 4 */
const entrySize = (x: Xattr) => Math.ceil((4 + x.name.length - 'user.'.length + x.value.length) / 4) * 4;

function xattrTree(): SourceTree {
  const f: SourceInode = { ...file(enc.encode('some content')), xattrs: [DROP, KEEP] };
  return treeOf(dir([['f', f], ['g', file(enc.encode('other'))]]));
}

async function withEmitters<T>(patch: Partial<typeof emitters>, run: () => Promise<T>): Promise<T> {
  const saved = { ...emitters };
  Object.assign(emitters, patch);
  try {
    return await run();
  } finally {
    Object.assign(emitters, saved);
  }
}

async function layoutError(run: () => Promise<unknown>): Promise<LayoutError> {
  try {
    await run();
  } catch (e) {
    assert.ok(e instanceof LayoutError, `expected a LayoutError, got ${String(e)}`);
    return e;
  }
  assert.fail('the build with broken emission succeeded');
}

const WRITER: Record<string, string> = { erofs: 'EROFS', composefs: 'composefs', 'rafs-v6': 'RAFS v6' };
for (const format of ['erofs', 'composefs', 'rafs-v6'] as Format[]) {
  test(`${format}: one inline xattr entry dropped from emission fails the build at that position`, async () => {
    // unbroken: builds, and the kept entry sits where the plan put it
    const good = (await build(format, xattrTree())).image;
    const keepAt = Buffer.from(good).indexOf(Buffer.concat([Buffer.from('b-keep'), Buffer.from(KEEP.value)])) - 4;
    assert.ok(keepAt > 0);
    const dropped: Xattr[] = [];
    const orig = emitters.xattrEntry;
    const e = await layoutError(() => withEmitters({
      xattrEntry: (out, x) => {
        if (x.name.length === DROP.name.length && Buffer.from(x.name).equals(Buffer.from(DROP.name))) {
          dropped.push(x);
          return;
        }
        orig(out, x);
      },
    }, () => build(format, xattrTree())));
    assert.equal(dropped.length, 1);
    assert.equal(e.writer, WRITER[format]);
    // the entry after the dropped one is where the check fails: planned where the good image has it
    assert.match(e.what, /"\/f"\): inline xattr entry 1$/);
    assert.equal(e.planned, keepAt);
    assert.equal(e.emitted, keepAt - entrySize(DROP));
    assert.ok(e.message.includes(`planned at byte ${keepAt}, emitted at byte ${keepAt - entrySize(DROP)}`), e.message);
  });

  test(`${format}: the last inline xattr entry dropped fails at the end of the xattr area`, async () => {
    const orig = emitters.xattrEntry;
    const e = await layoutError(() => withEmitters({
      xattrEntry: (out, x) => {
        if (!Buffer.from(x.name).equals(Buffer.from(KEEP.name))) orig(out, x);
      },
    }, () => build(format, xattrTree())));
    assert.match(e.what, /"\/f"\): xattr area end$/);
    assert.equal(e.planned - e.emitted, entrySize(KEEP));
  });

  test(`${format}: a dirent left out of a directory block fails the build at that block`, async () => {
    // 400 names of 40 bytes: several directory blocks in the data area
    const many = treeOf(dir(Array.from({ length: 400 }, (_, i) => [`${String(i).padStart(4, '0')}-${'n'.repeat(35)}`, file(enc.encode(String(i)))] as [string, SourceInode])));
    await build(format, many);
    const orig = emitters.direntBlock;
    const e = await layoutError(() => withEmitters({
      direntBlock: (out, names, nids, types, first, end) => orig(out, names, nids, types, first, end - first > 50 ? end - 1 : end),
    }, () => build(format, many)));
    assert.match(e.what, /"\/"\): directory block 0 end$/);
    assert.equal(e.planned - e.emitted, 12 + 40, 'one dirent and its name');
  });
}

test('the measuring pass runs the same checks (EROFS and composefs image sizes)', async () => {
  const orig = emitters.xattrEntry;
  const drop = { xattrEntry: (out: Parameters<typeof orig>[0], x: Xattr) => (Buffer.from(x.name).equals(Buffer.from(DROP.name)) ? undefined : orig(out, x)) };
  await layoutError(() => withEmitters(drop, () => measureErofs(xattrTree())));
  await layoutError(() => withEmitters(drop, () => measureComposefs(xattrTree())));
  assert.equal(await measureErofs(xattrTree(), { buildTime: 1_700_000_000 }), (await build('erofs', xattrTree())).image.length);
  assert.equal(await measureComposefs(xattrTree()), (await build('composefs', xattrTree())).image.length);
});

/** `depth` directories deep, 200-byte names, the longest target a symlink may have at the bottom */
function deepTree(depth = 24): { tree: SourceTree; path: string; target: string } {
  const target = '/' + 't'.repeat(PATH_MAX - 2);
  let node = dir([['link', symlink(target)], ['short', symlink('x')]]);
  const names: string[] = [];
  for (let i = depth - 1; i >= 0; i--) {
    const name = String.fromCharCode(97 + i).repeat(200);
    names.unshift(name);
    node = dir([[name, node], [`s${i}`, symlink(target.slice(0, PATH_MAX - 1 - i * 100))]]);
  }
  return { tree: treeOf(node), path: '/' + [...names, 'link'].join('/'), target };
}

test('a deep tree of 200-byte names with a 4095-byte symlink target builds with every writer and reads back', async () => {
  const { path, target } = deepTree();
  assert.equal(target.length, PATH_MAX - 1);
  for (const format of ['erofs', 'composefs', 'rafs-v5', 'rafs-v6'] as Format[]) {
    const b = await build(format, deepTree().tree);
    const src = new BytesSource(b.image, 'image');
    const fs = format === 'erofs' ? await openErofs(src) : format === 'composefs' ? await openComposefs(src) : await openRafs(src, { blobs: [] });
    const attr = await resolvePath(fs, path);
    assert.equal(attr.type, 'symlink', format);
    assert.equal(new TextDecoder().decode(await fs.readlink(attr.ino)), target, format);
    if (format === 'composefs') assert.equal(b.image.length, await measureComposefs(deepTree().tree));
  }
});

test('deep trees: fsck.erofs checks the EROFS and composefs images and extracts every symlink target whole', { timeout: 120_000 }, async () => {
  const d = mkdtempSync(join(tmpdir(), 'layout-'));
  try {
    for (const format of EROFS_BASED) {
      // 24 levels: checked (fsck.erofs 1.5 --extract crashes on paths over PATH_MAX, 24 × 201 bytes)
      const img = join(d, `${format}-24.img`);
      writeFileSync(img, (await build(format, deepTree(24).tree)).image);
      const check = spawnSync('fsck.erofs', [img], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${format}: ${check.stderr}`);
      // 12 levels: extracted, every target compared
      const depth = 12;
      const img12 = join(d, `${format}-12.img`);
      writeFileSync(img12, (await build(format, deepTree(depth).tree)).image);
      const out = join(d, format);
      const r = spawnSync('fsck.erofs', [`--extract=${out}`, img12], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${format}: ${r.stderr}`);
      const { target } = deepTree(depth);
      let p = out;
      for (let i = 0; i < depth; i++) {
        assert.equal(readlinkSync(join(p, `s${i}`)), target.slice(0, PATH_MAX - 1 - i * 100), `${format}: s${i}`);
        p = join(p, String.fromCharCode(97 + i).repeat(200));
      }
      assert.equal(readlinkSync(join(p, 'link')), target, `${format}: the 4095-byte target`);
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
