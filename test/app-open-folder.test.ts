// openFolder: the folder's image size is its regular files' total (each inode once), counted when asked
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openFolder } from '../src/lib/app/open.ts';
import { newDir, type SourceInode } from '../src/lib/fs/tree.ts';

const ENC = new TextEncoder();
const file = (size: number): SourceInode => ({ type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size, rdev: 0, xattrs: [] });

test('openFolder: image size = regular files once each, read after the tree is complete', () => {
  const root = newDir();
  const sub = newDir();
  const shared = file(7000);
  root.children!.push({ name: ENC.encode('a'), inode: file(100) }, { name: ENC.encode('d'), inode: sub }, { name: ENC.encode('h'), inode: shared });
  sub.children!.push({ name: ENC.encode('b'), inode: file(5) }, { name: ENC.encode('h2'), inode: shared, link: true });
  const opened = openFolder({ root, notes: [] }, 'f');
  // counted on first use (a build never asks): a file added before that is counted
  sub.children!.push({ name: ENC.encode('c'), inode: file(1) });
  assert.equal(opened.image.size, 100 + 5 + 7000 + 1);
  assert.equal(opened.image.name, 'f');
  assert.equal(opened.kind, 'folder');
});
