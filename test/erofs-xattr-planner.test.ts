// XattrPlanner with late pairs (values filled in after add, as the composefs writer does with the
// digests of files still hashing) plans exactly what planXattrs plans from the final lists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XattrPlanner, planXattrs, type XattrPlan } from '../src/lib/erofs/writer-xattrs.ts';
import type { Xattr } from '../src/lib/fs/tree.ts';

const ENC = new TextEncoder();
const META = ENC.encode('trusted.overlay.metacopy');
const REDIRECT = ENC.encode('trusted.overlay.redirect');
const SELINUX = ENC.encode('security.selinux');

const comparable = (p: XattrPlan) => ({ ...p, indexer: undefined, xsize: [...p.xsize], filter: [...p.filter] });

function digestOf(n: number): Uint8Array {
  const d = new Uint8Array(32);
  for (let i = 0; i < 32; i++) d[i] = (n * 131 + i * 7) & 255;
  return d;
}

test('late pairs: same plan as planXattrs on the final lists (duplicates shared, across early and late)', () => {
  const N = 40;
  const lists: Xattr[][] = [];
  const late: { i: number; meta: Uint8Array; red: Uint8Array; digest: Uint8Array }[] = [];
  const early = new Set([3, 17]);
  for (let i = 0; i < N; i++) {
    // contents 5, 6 and 7 appear twice; file 3 (early: digest known) has the content of late file 4
    const content = i === 3 || i === 4 ? 4 : i === 12 ? 5 : i === 13 ? 5 : i === 20 ? 6 : i === 33 ? 6 : i === 17 ? 7 : i === 30 ? 7 : 100 + i;
    const meta = new Uint8Array(36);
    meta[1] = 36;
    meta[3] = 1;
    const red = new Uint8Array(66);
    const list: Xattr[] = [{ name: META, value: meta }, { name: REDIRECT, value: red }];
    if (i % 3 === 0) list.unshift({ name: SELINUX, value: ENC.encode('system_u:object_r:usr_t:s0') });
    lists.push(list);
    if (early.has(i)) {
      meta.set(digestOf(content), 4);
      red.set(digestOf(content).subarray(0, 2).map((b) => b | 1), 1);
    } else late.push({ i, meta, red, digest: digestOf(content) });
  }
  const planner = new XattrPlanner(N, { order: 'composefs' });
  for (let i = 0; i < N; i++) {
    const isLate = !early.has(i);
    planner.add(i, lists[i]!, isLate ? (lists[i]!.length === 3 ? [1, 2] : [0, 1]) : undefined);
  }
  // the late values' bytes arrive after add
  for (const { meta, red, digest } of late) {
    meta.set(digest, 4);
    red.set(digest.subarray(0, 2).map((b) => b | 1), 1);
  }
  const got = planner.plan();
  const want = planXattrs(lists, { order: 'composefs' });
  assert.deepEqual(comparable(got), comparable(want));
  // the duplicates are what is shared: selinux, and the metacopy/redirect of contents 4, 5, 6, 7
  assert.equal(got.shared.length, 1 + 2 * 4);
  assert.ok(got.sharedOffsets[3]!.length === 3 && got.sharedOffsets[4]!.length === 2);
  assert.equal(got.sharedOffsets[5]!.length, 0);
  // interning the placeholders at add time would have shared them all: the late pairs must wait
  const eager = new XattrPlanner(N, { order: 'composefs' });
  const zeros = lists.map((l) => l.map((x) => (x.name === SELINUX ? x : { name: x.name, value: new Uint8Array(x.value.length) })));
  for (let i = 0; i < N; i++) eager.add(i, zeros[i]!);
  assert.notDeepEqual(comparable(eager.plan()), comparable(want));
});

test('planXattrs options pass through the planner (mkfs order, never share, no filter)', () => {
  const lists: Xattr[][] = [
    [{ name: SELINUX, value: ENC.encode('a') }],
    [{ name: SELINUX, value: ENC.encode('a') }, { name: ENC.encode('user.x'), value: ENC.encode('1') }],
    [],
  ];
  const never = planXattrs(lists, { order: 'mkfs', minUses: Infinity, nameFilter: false });
  assert.equal(never.shared.length, 0);
  assert.deepEqual([...never.filter], [0, 0, 0]);
  assert.equal(never.inline[1]!.length, 2);
  const shared = planXattrs(lists, { order: 'mkfs' });
  assert.equal(shared.shared.length, 1);
  assert.deepEqual(shared.sharedOffsets[1], [0]);
  assert.equal(shared.inline[1]!.length, 1);
  assert.equal(shared.any, true);
  assert.equal(shared.xsize[2], 0);
});
