// Hardlinks in a composefs image built from a directory. mkcomposefs 1.0.8 reads a directory with
// lcfs_build, which never looks at st_ino/st_nlink: every name becomes its own inode with nlink 1.
// Layerscope keeps one inode per hardlinked file with its real link count by default (the mounted
// image then shows what the source has); `--hardlinks split` writes what mkcomposefs writes.
// Checked against our reader, the real mkcomposefs when MKCOMPOSEFS names one, and this machine's
// kernel (EROFS + overlayfs over the object store, as test/oci-composefs.test.ts mounts it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openComposefs } from '../src/lib/composefs/reader.ts';
import { resolvePath } from '../src/lib/fs/path.ts';
import { REPO } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'ls-cfs-hl-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// a: three names (one in a subdirectory), big enough for the object store; s: two names, inline
const src = join(tmp, 'src');
mkdirSync(join(src, 'd'), { recursive: true });
writeFileSync(join(src, 'a'), 'hardlinked content, longer than the 64-byte inline limit so it is a backing object\n');
linkSync(join(src, 'a'), join(src, 'b'));
linkSync(join(src, 'a'), join(src, 'd/c'));
writeFileSync(join(src, 's'), 'small\n');
linkSync(join(src, 's'), join(src, 's2'));
writeFileSync(join(src, 'single'), 'one name\n');
const NAMES = ['a', 'b', 'd/c', 's', 's2', 'single'];

function build(mode: 'keep' | 'split' | null): { image: string; store: string } {
  const image = join(tmp, `${mode ?? 'default'}.cfs`);
  const store = join(tmp, `${mode ?? 'default'}-store`);
  const r = spawnSync(process.execPath, [CLI, 'build', '--format', 'composefs', src, image, '--digest-store', store, ...(mode ? ['--hardlinks', mode] : [])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { image, store };
}

/** name → [inode number, nlink] as our reader sees the image */
async function readerLinks(image: string): Promise<Map<string, [number, number]>> {
  const bytes = new Uint8Array(readFileSync(image));
  const fs = await openComposefs({ size: bytes.length, name: image, read: async (o, n) => bytes.subarray(o, o + n) });
  const out = new Map<string, [number, number]>();
  for (const name of NAMES) {
    const st = await resolvePath(fs, name);
    out.set(name, [st.ino, st.nlink]);
  }
  return out;
}

describe('composefs build of hardlinked files', () => {
  const keep = build(null);
  const split = build('split');

  test('default (keep): one inode per hardlinked file, nlink = its names in the tree', async () => {
    const l = await readerLinks(keep.image);
    assert.deepEqual([l.get('a')![1], l.get('s')![1], l.get('single')![1]], [3, 2, 1]);
    assert.equal(l.get('b')![0], l.get('a')![0]);
    assert.equal(l.get('d/c')![0], l.get('a')![0]);
    assert.equal(l.get('s2')![0], l.get('s')![0]);
    assert.deepEqual(readFileSync(build('keep').image), readFileSync(keep.image), '--hardlinks keep is the default');
  });

  test('--hardlinks split: every name its own inode with nlink 1 (as mkcomposefs 1.0.8 from a directory)', async () => {
    const l = await readerLinks(split.image);
    for (const name of NAMES) assert.equal(l.get(name)![1], 1, name);
    assert.equal(new Set(NAMES.map((n) => l.get(n)![0])).size, NAMES.length);
    // the same content still makes one backing object
    assert.equal(spawnSync('find', [split.store, '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n').length, 1);
  });

  test('a bad --hardlinks value is a usage error', () => {
    const r = spawnSync(process.execPath, [CLI, 'build', '--format', 'composefs', src, join(tmp, 'bad.cfs'), '--hardlinks', 'merge'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--hardlinks merge: keep or split/);
  });

  test('MKCOMPOSEFS=path: --hardlinks split is byte-identical to mkcomposefs, the default (shared inodes) differs', (t) => {
    const mk = process.env.MKCOMPOSEFS;
    if (!mk) return t.skip('set MKCOMPOSEFS to a mkcomposefs 1.0.8 binary to compare with it');
    const ref = join(tmp, 'ref.cfs');
    const r = spawnSync(mk, [`--digest-store=${join(tmp, 'ref-store')}`, src, ref], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(split.image), readFileSync(ref));
    assert.notDeepEqual(readFileSync(keep.image), readFileSync(ref));
    assert.equal(spawnSync('diff', ['-r', join(tmp, 'ref-store'), split.store]).status, 0, 'same object store');
  });

  test('the kernel shows the link counts each mode wrote (EROFS + overlayfs over the object store)', (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting needs root');
    const seen: Record<string, Map<string, [number, number]>> = {};
    for (const [mode, b] of [['keep', keep], ['split', split]] as const) {
      const meta = join(tmp, `${mode}-meta`), mnt = join(tmp, `${mode}-mnt`);
      mkdirSync(meta);
      mkdirSync(mnt);
      const m = spawnSync('mount', ['-t', 'erofs', '-o', 'ro', b.image, meta], { encoding: 'utf8' });
      if (m.status !== 0) return t.skip(`mount -t erofs refused: ${m.stderr.trim()}`);
      try {
        const o = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${meta}::${b.store},metacopy=on,redirect_dir=on`, mnt], { encoding: 'utf8' });
        if (o.status !== 0) return t.skip(`overlay mount refused: ${o.stderr.trim()}`);
        try {
          const links = new Map<string, [number, number]>();
          for (const name of NAMES) {
            const st = statSync(join(mnt, name));
            links.set(name, [st.ino, st.nlink]);
            assert.deepEqual(readFileSync(join(mnt, name)), readFileSync(join(src, name)), `${mode}: ${name} content`);
          }
          seen[mode] = links;
        } finally {
          spawnSync('umount', [mnt]);
        }
      } finally {
        spawnSync('umount', [meta]);
      }
    }
    const k = seen.keep!, s = seen.split!;
    assert.deepEqual(NAMES.map((n) => k.get(n)![1]), [3, 3, 3, 2, 2, 1]);
    assert.equal(new Set(['a', 'b', 'd/c'].map((n) => k.get(n)![0])).size, 1);
    assert.deepEqual(NAMES.map((n) => s.get(n)![1]), [1, 1, 1, 1, 1, 1]);
    assert.equal(new Set(NAMES.map((n) => s.get(n)![0])).size, NAMES.length);
  });
});
