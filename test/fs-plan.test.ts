// Data plans (lib/fs/plan.ts): what extract's worker threads run instead of a reader. Every EROFS
// layout mkfs.erofs 1.5 writes must plan exactly the bytes of the source files, whole and at
// random ranges; runPlan must get the piece arithmetic right however small its buffer; and a job
// (extract-job.ts) must carry records to a worker unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lz4CompressBlock } from '../src/lib/codec/lz4-compress.ts';
import { openErofs, type ErofsFs } from '../src/lib/erofs/reader.ts';
import { FormatError } from '../src/lib/errors.ts';
import { runPlan, type DataPiece } from '../src/lib/fs/plan.ts';
import { bytes, type Attr } from '../src/lib/fs/types.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { JobWriter, readJob } from '../src/cli/extract-job.ts';
import type { LeafRecord } from '../src/cli/extract-leaf.ts';
import { buildErofsImages } from './helpers/mktree.ts';
import { tempDir } from './helpers/paths.ts';

/** Runs a plan through a buffer of `bufSize` bytes, reading sources by their path. */
function run(pieces: DataPiece<ByteSource>[], bufSize = 256 << 10): Uint8Array {
  const files = new Map<string, Uint8Array>();
  const out: Uint8Array[] = [];
  const io = {
    readAt(src: ByteSource, pos: number, dest: Uint8Array) {
      const key = src.path ?? src.name;
      let f = files.get(key);
      if (!f) files.set(key, (f = src.path ? new Uint8Array(readFileSync(src.path)) : (src as BytesSource).bytes));
      assert.ok(pos >= 0 && pos + dest.length <= f.length, `read ${pos}+${dest.length} inside ${key}`);
      dest.set(f.subarray(pos, pos + dest.length));
    },
    write(b: Uint8Array) {
      out.push(b.slice());
    },
  };
  runPlan(pieces, io, new Uint8Array(bufSize), new Uint8Array(0));
  return new Uint8Array(Buffer.concat(out));
}

/** every regular file below `dir`, depth first, as [ino, path relative to the root] */
async function files(fs: ErofsFs, ino = fs.rootIno, at = ''): Promise<[number, string][]> {
  const out: [number, string][] = [];
  for (const e of await fs.readdir(ino)) {
    const name = `${at}/${Buffer.from(e.name).toString('latin1')}`;
    if (e.type === 'dir') out.push(...(await files(fs, e.ino, name)));
    else if (e.type === 'reg') out.push([e.ino, name]);
  }
  return out;
}

const images = buildErofsImages(tempDir('ls-plan-matrix-'));

for (const img of images) {
  test(`dataPlan makes every file's bytes, whole and at random ranges: ${img.name}`, async () => {
    const devices = img.blob ? [await NodeFileSource.open(img.blob)] : [];
    const fs = await openErofs(await NodeFileSource.open(img.image), { devices });
    try {
      let seed = 7;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % Math.max(1, n));
      const list = await files(fs);
      assert.ok(list.length > 300, `${list.length} files`);
      let planned = 0;
      for (const [ino, rel] of list) {
        const want = new Uint8Array(readFileSync(Buffer.from(join(img.src, rel), 'latin1')));
        const whole = await fs.dataPlan(ino, 0, want.length + 100);
        // a small buffer makes pieces cross its end; the default one takes most files whole
        assert.deepEqual(run(whole, 4096 + 17), want, `${rel}: whole file`);
        planned += whole.length;
        if (want.length > 2) {
          const off = rnd(want.length);
          const len = 1 + rnd(want.length - off);
          assert.deepEqual(run(await fs.dataPlan(ino, off, len)), want.subarray(off, off + len), `${rel}: ${off}+${len}`);
        }
      }
      assert.ok(planned >= list.length / 2, 'plans have pieces');
    } finally {
      await fs.close();
    }
  });
}

test('dataPlan of a cut image fails with the typed error while the walk plans, not in a worker', async () => {
  const img = images.find((i) => i.name === 'noinline')!;
  const all = readFileSync(img.image);
  const fs = await openErofs(new BytesSource(all.subarray(0, Math.floor(all.length * 0.8))));
  let failed = 0;
  for (const [ino] of await files(fs)) {
    try {
      await fs.dataPlan(ino, 0, Number.MAX_SAFE_INTEGER);
    } catch (e) {
      assert.ok(e instanceof FormatError, String(e));
      failed++;
    }
  }
  assert.ok(failed > 0, 'some file lies past the cut');
});

test('runPlan: zeros, carried bytes and LZ4 blocks with skips, padding and damage', () => {
  const src = new Uint8Array(5000).map((_, i) => (i * 7) % 251);
  const block = lz4CompressBlock(src)!;
  assert.ok(block && block.length < src.length);
  // the block stored after 3 bytes of zero padding, as EROFS pads a pcluster
  const stored = new BytesSource(new Uint8Array([9, 9, 0, 0, 0, ...block, 9]), 'stored');
  const lz4 = (skip: number, take: number, zeroPadding = true): Extract<DataPiece<ByteSource>, { kind: 'lz4' }> => ({
    kind: 'lz4', source: stored, pos: 2, plen: 3 + block.length, bytes: null, length: src.length, skip, take, zeroPadding, structure: 'test.block', at: 2,
  });
  const plan: DataPiece<ByteSource>[] = [
    { kind: 'zero', len: 10 },
    { kind: 'bytes', bytes: bytes('tail') },
    lz4(0, src.length),
    lz4(100, 50),
    { kind: 'lz4', source: null, pos: 0, plen: block.length, bytes: block, length: src.length, skip: 4990, take: 10, zeroPadding: false, structure: 'test.block', at: 0 },
    { kind: 'copy', source: stored, pos: 0, len: 2 },
  ];
  const want = new Uint8Array(Buffer.concat([new Uint8Array(10), bytes('tail'), src, src.subarray(100, 150), src.subarray(4990), new Uint8Array([9, 9])]));
  for (const size of [64, 1000, 4096, 1 << 20]) assert.deepEqual(run(plan, size), want, `buffer of ${size}`);
  assert.throws(() => run([lz4(0, src.length, false)]), FormatError, 'padding not skipped: the zeros are not a valid block start');
  const zeros = new BytesSource(new Uint8Array(64), 'zeros');
  assert.throws(() => run([{ ...lz4(0, 10), source: zeros, pos: 0, plen: 64 }]), /only zero padding/);
  assert.throws(() => run([{ ...lz4(0, 10), length: src.length + 1 }]), FormatError);
});

test('a job carries records to a worker unchanged, and refuses plans a worker cannot run', () => {
  const file = { size: 100, name: 'img', path: '/images/img.erofs' } as ByteSource;
  const dev = { size: 100, name: 'dev', path: '/images/dev.blob' } as ByteSource;
  const attr = (type: Attr['type'], size: number, ino: number): Attr => ({ ino, type, mode: 0o100644, nlink: 1, uid: 70000, gid: 5, size, rdev: 0, mtime: -1234567890, mtimeNsec: 999999999 });
  const recs: LeafRecord<ByteSource>[] = [
    { path: bytes('/d/a'), attr: attr('reg', 13, 2 ** 40), link: null, xattrs: [bytes('user.x'), new Uint8Array(0)], plan: [{ kind: 'copy', source: file, pos: 2 ** 33, len: 3 }, { kind: 'zero', len: 4 }, { kind: 'bytes', bytes: bytes('abcdef') }] },
    { path: bytes('/d/l'), attr: attr('symlink', 3, 3), link: bytes('a/b'), xattrs: null, plan: null },
    { path: bytes('/d/c'), attr: { ...attr('chr', 0, 4), rdev: 0x1234 }, link: null, xattrs: null, plan: null },
    { path: bytes('/d/z'), attr: attr('reg', 7, 5), link: null, xattrs: null, plan: [
      { kind: 'lz4', source: dev, pos: 40, plen: 9, bytes: null, length: 10, skip: 1, take: 5, zeroPadding: true, structure: 'erofs.pcluster', at: 40 },
      { kind: 'lz4', source: null, pos: 80, plen: 3, bytes: bytes('xyz'), length: 2, skip: 0, take: 2, zeroPadding: false, structure: 'erofs.pcluster', at: 80 },
    ] },
  ];
  const w = new JobWriter();
  for (const r of recs) assert.equal(w.add(r), true);
  assert.equal(w.add({ ...recs[0]!, plan: [{ kind: 'copy', source: new BytesSource(new Uint8Array(3)), pos: 0, len: 3 }] }), false, 'an in-memory source');
  assert.equal(w.add({ ...recs[0]!, attr: attr('reg', 14, 2) }), false, 'a plan one byte short');
  const job = w.take();
  assert.equal(w.count, 0);
  const back = [...readJob(structuredClone(job))];
  const named = (s: ByteSource | null) => (s === null ? null : s.path!);
  assert.deepEqual(back.map((r) => ({ ...r, path: Buffer.from(r.path), link: r.link && Buffer.from(r.link), xattrs: r.xattrs?.map((x) => Buffer.from(x)) ?? null, plan: r.plan?.map((p) => (p.kind === 'bytes' || (p.kind === 'lz4' && p.bytes) ? { ...p, bytes: Buffer.from(p.bytes!) } : p)) ?? null })),
    recs.map((r) => ({ ...r, path: Buffer.from(r.path), link: r.link && Buffer.from(r.link), xattrs: r.xattrs?.map((x) => Buffer.from(x)) ?? null, plan: r.plan?.map((p) => (p.kind === 'copy' ? { ...p, source: named(p.source) } : p.kind === 'lz4' ? { ...p, source: named(p.source), bytes: p.bytes && Buffer.from(p.bytes) } : p.kind === 'bytes' ? { ...p, bytes: Buffer.from(p.bytes) } : p)) ?? null })));
});
