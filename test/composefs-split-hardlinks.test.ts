// splitHardlinks (src/lib/composefs/writer.ts) copies only what changes: inodes named more than once
// or carrying another link count, link dirents, and the directories above them. The image must be
// the one the full copy it replaced gave (every inode and dirent copied, nlink 1, no link flags).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildComposefs, splitHardlinks } from '../src/lib/composefs/writer.ts';
import { inodesOf, newDir, type SourceInode, type SourceTree } from '../src/lib/fs/tree.ts';
import type { ByteSource } from '../src/lib/io/source.ts';

const ENC = new TextEncoder();

function file(text: string, extra: Partial<SourceInode> = {}): SourceInode {
  const data = ENC.encode(text);
  const content: ByteSource = { name: text.slice(0, 8), size: data.length, read: async (o, n) => data.subarray(o, o + n) };
  return { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 1700000000, mtimeNsec: 5, size: data.length, rdev: 0, xattrs: [], content, ...extra };
}

function tree(): SourceTree {
  const root = newDir();
  const sub = newDir();
  const quiet = newDir();
  const big = file('x'.repeat(5000)); // external: three names, the later two marked as links
  const small = file('small\n'); // inline: two names
  root.children = [
    { name: ENC.encode('a'), inode: big },
    { name: ENC.encode('b'), inode: big, link: true },
    { name: ENC.encode('q'), inode: quiet },
    { name: ENC.encode('s'), inode: small },
    { name: ENC.encode('s2'), inode: small, link: true },
    // one name but a dump's link count of 4
    { name: ENC.encode('t'), inode: file('counted\n', { nlink: 4 }) },
    { name: ENC.encode('z'), inode: sub },
  ];
  sub.children = [{ name: ENC.encode('c'), inode: big, link: true }, { name: ENC.encode('own'), inode: file('own\n') }];
  quiet.children = [{ name: ENC.encode('only'), inode: file('only\n') }];
  return { root, notes: [] };
}

/** the copy splitHardlinks made before: every inode and dirent, nlink 1, link flags dropped */
function fullCopy(t: SourceTree): SourceTree {
  const walk = (d: SourceInode): SourceInode => ({
    ...d,
    children: d.children?.map((c) => ({ name: c.name, inode: c.inode.type === 'dir' ? walk(c.inode) : { ...c.inode, nlink: 1 } })),
  });
  return { root: walk(t.root), notes: t.notes };
}

async function image(t: SourceTree, hardlinks: 'keep' | 'split'): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await buildComposefs(t, { hardlinks }, { write: (c: Uint8Array) => void parts.push(c.slice()), close() {} } as never);
  return Buffer.concat(parts);
}

describe('splitHardlinks', () => {
  test('every name its own inode with nlink 1 or none, no link flags; unchanged directories kept as they are', () => {
    const t = tree();
    const s = splitHardlinks(t);
    const names: SourceInode[] = [];
    const walk = (d: SourceInode): void => {
      for (const c of d.children ?? []) {
        assert.equal(c.link, undefined);
        if (c.inode.type === 'dir') walk(c.inode);
        else {
          names.push(c.inode);
          assert.ok(c.inode.nlink === undefined || c.inode.nlink === 1);
        }
      }
    };
    walk(s.root);
    assert.equal(names.length, 8);
    assert.equal(new Set(names).size, 8, 'no inode reached twice');
    // the directory without hardlinks is the source's own object; the ones above links are copies
    const q = s.root.children!.find((c) => c.name[0] === 0x71)!.inode;
    assert.equal(q, t.root.children![2]!.inode);
    assert.notEqual(s.root, t.root);
    // the source tree is left as it was
    assert.equal(t.root.children![1]!.link, true);
    assert.equal(t.root.children![5]!.inode.nlink, 4);
    assert.equal(inodesOf(t.root).length, 8);
  });

  test('the image equals the one of the full copy it replaced', async () => {
    const t = tree();
    const ours = await image(t, 'split');
    const before = await image(fullCopy(t), 'keep');
    assert.deepEqual(ours, before);
    // and differs from the shared-inode image, so the comparison can fail
    assert.notDeepEqual(ours, await image(t, 'keep'));
  });
});
