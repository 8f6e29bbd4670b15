// plainEntries and EntryBudget: what every walk that writes or reports a tree may take from a listing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { badSymlinkTarget, EntryBudget, plainEntries } from '../src/lib/fs/entries.ts';
import { FormatError } from '../src/lib/errors.ts';
import type { DirEntry } from '../src/lib/fs/types.ts';

const enc = new TextEncoder();
const ent = (name: string | Uint8Array, ino: number): DirEntry => ({ name: typeof name === 'string' ? enc.encode(name) : name, ino, type: 'reg', next: ino });
const names = (l: DirEntry[]) => l.map((e) => `${new TextDecoder().decode(e.name)}#${e.ino}`);

test('unsafe names are refused with the reason, the rest kept in listing order', () => {
  const r = plainEntries([ent('a', 1), ent('', 2), ent('.', 3), ent('..', 4), ent('x/y', 5), ent(new Uint8Array([0x61, 0, 0x62]), 6), ent('b', 7)]);
  assert.deepEqual(names(r.kept), ['a#1', 'b#7']);
  assert.deepEqual(r.refused.map((x) => [x.entry.ino, x.reason]), [[2, 'empty name'], [3, 'name "."'], [4, 'name ".."'], [5, 'name contains "/"'], [6, 'name contains NUL']]);
});

test('a name listed twice keeps its first entry, in sorted and in unsorted listings', () => {
  // sorted until the duplicate: the cheap path switches to the set there
  const sorted = plainEntries([ent('a', 1), ent('b', 2), ent('b', 3), ent('c', 4), ent('a', 5)]);
  assert.deepEqual(names(sorted.kept), ['a#1', 'b#2', 'c#4']);
  assert.deepEqual(sorted.refused.map((x) => x.entry.ino), [3, 5]);
  assert.match(sorted.refused[0]!.reason, /duplicate name/);
  const unsorted = plainEntries([ent('z', 1), ent('a', 2), ent('m', 3), ent('z', 4), ent('m', 5), ent('q', 6)]);
  assert.deepEqual(names(unsorted.kept), ['z#1', 'a#2', 'm#3', 'q#6']);
  assert.deepEqual(unsorted.refused.map((x) => x.entry.ino), [4, 5]);
  // names that differ only past a shared prefix, or by a byte above 0x7f, stay apart
  const close = plainEntries([ent('abc', 1), ent('ab', 2), ent(new Uint8Array([0xff]), 3), ent(new Uint8Array([0xfe]), 4), ent('abc', 5)]);
  assert.deepEqual(close.kept.map((e) => e.ino), [1, 2, 3, 4]);
});

test('10,000 distinct names in random order: none refused; each repeated: every repeat refused', () => {
  const list: DirEntry[] = [];
  for (let i = 0; i < 10000; i++) list.push(ent(`n${(i * 7919) % 10007}`, i));
  assert.equal(plainEntries(list).refused.length, 0);
  const twice = plainEntries([...list, ...list.map((e) => ({ ...e, ino: e.ino + 100000 }))]);
  assert.equal(twice.kept.length, 10000);
  assert.ok(twice.refused.every((x) => x.entry.ino >= 100000));
});

test('EntryBudget throws a FormatError past its bound, not before', () => {
  const b = new EntryBudget(10);
  b.take(6, 1);
  b.take(4, 2);
  assert.throws(() => b.take(1, 3), (e: unknown) => e instanceof FormatError && e.structure === 'directory tree' && /more than 10 entries.*directory 3/.test(e.message));
  const unbounded = EntryBudget.of({ maxEntries: undefined } as never);
  unbounded.take(1e9, 1);
});

test('symlink targets symlink(2) cannot make', () => {
  assert.equal(badSymlinkTarget(enc.encode('a/b')), null);
  assert.equal(badSymlinkTarget(new Uint8Array(4095).fill(0x61)), null);
  assert.match(badSymlinkTarget(new Uint8Array(0))!, /empty/);
  assert.match(badSymlinkTarget(new Uint8Array(4096).fill(0x61))!, /4096 bytes/);
  assert.match(badSymlinkTarget(new Uint8Array([0x61, 0]))!, /NUL/);
});
