import test from 'node:test';
import assert from 'node:assert/strict';
import { packDirPage, unpackDirPage } from '../workers/dirpage.ts';
import type { DirPage, Entry } from '../workers/inspector.ts';

const attr = (ino: number, over: Partial<NonNullable<Entry['attr']>> = {}): NonNullable<Entry['attr']> => ({
  ino, type: 'reg', mode: 0o100644, nlink: 1, uid: 0, gid: 0, size: 0, rdev: 0, mtime: 1600000000, mtimeNsec: 0, ...over,
});

test('a directory page packed as columns comes back equal, odd entries whole and in place', () => {
  const entries: Entry[] = [
    { name: { text: 'plain' }, ino: 36, type: 'reg', attr: attr(36, { size: 12345, mtimeNsec: 999_999_999 }) },
    { name: { text: 'dir' }, ino: 40, type: 'dir', attr: attr(40, { type: 'dir', mode: 0o40755, nlink: 3 }) },
    { name: { text: 'link' }, ino: 41, type: 'symlink', attr: attr(41, { type: 'symlink', mode: 0o120777, size: 6 }), target: { text: 'target' } },
    { name: { text: 'caf\\xe9' , hex: '636166e9' }, ino: 42, type: 'reg', attr: attr(42) },
    { name: { text: 'broken' }, ino: 43, type: 'reg', attr: null, error: { name: 'FormatError', message: 'bad inode', structure: 'inode', offset: 4096 } },
    // beyond 32 bits, negative and fractional-free doubles, a device, ids near 2^32, a dirent type that differs
    { name: { text: 'big' }, ino: 2 ** 40 + 3, type: 'chr', attr: attr(2 ** 40 + 3, { type: 'chr', mode: 0o20600, size: 2 ** 45, mtime: -86400, rdev: 0x10300, uid: 4294967294, gid: 2 ** 31, nlink: 2 ** 31 + 5 }) },
    { name: { text: 'fifo' }, ino: 50, type: 'reg', attr: attr(50, { type: 'fifo', mode: 0o10644 }) },
  ];
  const page: DirPage = { entries, next: 4096 };
  const packed = packDirPage(page);
  assert.deepEqual(packed.whole.map((w) => w.i), [2, 3, 4]);
  const back = unpackDirPage(structuredClone(packed));
  assert.deepEqual(back, page);
  // rebuilt entries carry no extra keys
  assert.deepEqual(Object.keys(back.entries[0]!), ['name', 'ino', 'type', 'attr']);
  assert.equal(unpackDirPage(packDirPage({ entries: [], next: null })).entries.length, 0);
});
