// The pieces the three EROFS writers share (erofs/writer-xattrs.ts, erofs/writer-model.ts), on
// their own: the xattr sharing rule and its parameters (table order as mkfs.erofs / libcomposefs
// sort it, nydus' "share nothing, no name filter", the 128-reference cap), and the inode
// collection's hardlink rule (first name met, or the primary name as composefs places it).
// The writers' byte-identity with the reference tools is tested in composefs-writer,
// erofs-writer, rafs-v6 and kernel-writers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SourceInode, Xattr } from '../src/lib/fs/tree.ts';
import { MAX_SHARED_PER_INODE, xattrAreaSize, xattrEntrySize } from '../src/lib/erofs/writer-common.ts';
import { collectInodes, dirLinks, type ModelNode } from '../src/lib/erofs/writer-model.ts';
import { planXattrs, sharedIdsAt } from '../src/lib/erofs/writer-xattrs.ts';
import { dir, file, treeOf } from './helpers/craft.ts';

const enc = new TextEncoder();
const x = (name: string, value: string): Xattr => ({ name: enc.encode(name), value: enc.encode(value) });
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

// user.a=1 on three inodes, user.b=22 and user.b=3 on two each, user.c=9 on one
const LISTS: Xattr[][] = [
  [x('user.a', '1'), x('user.b', '22')],
  [x('user.a', '1'), x('user.b', '3'), x('user.c', '9')],
  [x('user.a', '1'), x('user.b', '22')],
  [x('user.b', '3')],
  [],
];

test('pairs used by two or more inodes are shared; mkfs order ascends by name then value', () => {
  const p = planXattrs(LISTS, { order: 'mkfs' });
  assert.deepEqual(p.shared.map((e) => `${dec(e.name)}=${dec(e.value)}`), ['user.a=1', 'user.b=22', 'user.b=3']);
  assert.deepEqual(p.sharedAt, [0, xattrEntrySize(p.shared[0]!), xattrEntrySize(p.shared[0]!) + xattrEntrySize(p.shared[1]!)]);
  // inode 1: two references, user.c inline
  assert.deepEqual(p.sharedOffsets[1], [p.sharedAt[0], p.sharedAt[2]]);
  assert.deepEqual(p.inline[1]!.map((e) => dec(e.name)), ['user.c']);
  assert.equal(p.xsize[1], xattrAreaSize(2, xattrEntrySize(LISTS[1]![2]!)));
  assert.equal(p.xsize[4], 0);
  assert.equal(p.filter[4], 0);
  assert.notEqual(p.filter[0], 0);
  assert.equal(p.any, true);
});

test('composefs order descends by name, then value length, then value', () => {
  const p = planXattrs(LISTS, { order: 'composefs' });
  assert.deepEqual(p.shared.map((e) => `${dec(e.name)}=${dec(e.value)}`), ['user.b=22', 'user.b=3', 'user.a=1']);
});

test('nydus rule: nothing shared, every entry inline, no name filter', () => {
  const p = planXattrs(LISTS, { order: 'mkfs', minUses: Infinity, nameFilter: false });
  assert.equal(p.shared.length, 0);
  assert.equal(p.sharedSize, 0);
  for (let i = 0; i < LISTS.length; i++) {
    assert.deepEqual(p.inline[i], LISTS[i]);
    assert.equal(p.filter[i], 0);
    let bytes = 0;
    for (const e of LISTS[i]!) bytes += xattrEntrySize(e);
    assert.equal(p.xsize[i], xattrAreaSize(0, bytes));
  }
});

test(`at most ${MAX_SHARED_PER_INODE} shared references per inode, the rest inline`, () => {
  const many = Array.from({ length: MAX_SHARED_PER_INODE + 3 }, (_, i) => x(`user.m${String(i).padStart(3, '0')}`, 'v'));
  const p = planXattrs([many, many], { order: 'mkfs' });
  assert.equal(p.shared.length, many.length);
  assert.equal(p.sharedOffsets[0]!.length, MAX_SHARED_PER_INODE);
  assert.deepEqual(p.inline[0], many.slice(MAX_SHARED_PER_INODE));
  // ids count 4-byte units from the block holding the table
  assert.deepEqual(sharedIdsAt([0, 8], 4096 + 64, 4096), [16, 18]);
});

interface N extends ModelNode {
  src: SourceInode;
}

function collect(linksAtPrimary: boolean): { nodes: N[]; names: string[] } {
  const f = file(enc.encode('x'));
  // "a/link" names f as a hardlink; its primary name is "z/f", met later breadth-first
  const a = dir([['link', f]]);
  a.children![0]!.link = true;
  const t = treeOf(dir([['a', a], ['z', dir([['f', f]])]]));
  const nodes: N[] = [];
  const primary = new Set<SourceInode>([f]);
  collectInodes(t, nodes, {
    add: (src, parent, name) => nodes.push({ src, parent, name, entNames: null, entNodes: null }) - 1,
    ...(linksAtPrimary ? { primary } : {}),
  });
  return { nodes, names: nodes.map((n) => dec(n.name)) };
}

test('hardlinks: one inode, at the first name met or at its primary name', () => {
  const first = collect(false);
  assert.deepEqual(first.names, ['', 'a', 'z', 'link']);
  const atPrimary = collect(true);
  assert.deepEqual(atPrimary.names, ['', 'a', 'z', 'f']);
  // both names lead to the one inode
  const a = atPrimary.nodes[1]!;
  const z = atPrimary.nodes[2]!;
  assert.equal(a.entNodes![a.entNames!.findIndex((n) => dec(n) === 'link')], 3);
  assert.equal(z.entNodes![z.entNames!.findIndex((n) => dec(n) === 'f')], 3);
  assert.equal(dirLinks(atPrimary.nodes, 0, (i) => atPrimary.nodes[i]!.src.type === 'dir'), 4);
});
