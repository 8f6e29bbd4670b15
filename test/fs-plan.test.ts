// Data plans (lib/fs/plan.ts): what extract's worker threads run instead of a reader. Every EROFS
// layout mkfs.erofs 1.5 writes must plan exactly the bytes of the source files, whole and at
// random ranges; runPlan must get the piece arithmetic right however small its buffer; and a job
// (extract-job.ts) must carry records to a worker unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lz4CompressBlock } from '../src/lib/codec/lz4-compress.ts';
import { openErofs, type ErofsFs } from '../src/lib/erofs/reader.ts';
import { FormatError } from '../src/lib/errors.ts';
import { decodePcluster, runPlan, type DataPiece } from '../src/lib/fs/plan.ts';
import { zstdCompress } from '../src/lib/codec/zstd-encode.ts';
import { deflateSync } from 'fflate';
import { bytes, type Attr } from '../src/lib/fs/types.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { finishJob, JobWriter, readJob } from '../src/cli/extract-job.ts';
import type { LeafRecord } from '../src/cli/extract-leaf.ts';
import { buildErofsImages } from './helpers/mktree.ts';
import { FIXTURES, tempDir } from './helpers/paths.ts';

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

test('decodePcluster: zero padding skipped, then LZ4 (exact length), deflate or zstd decoded; runPlan decode pieces and the reader use it', () => {
  const src = new Uint8Array(6000).map((_, i) => (i * 13) % 241);
  const streams = { lz4: lz4CompressBlock(src)!, deflate: deflateSync(src), zstd: zstdCompress(src) } as const;
  for (const [algorithm, stream] of Object.entries(streams) as [keyof typeof streams, Uint8Array][]) {
    // 5 bytes of something else, 7 zeros of padding, the stream, then bytes past the pcluster
    const stored = new Uint8Array([1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, ...stream, 6]);
    const c = { algorithm, zeroPadding: true, dictSize: 0, structure: 'test.pcluster', at: 5 };
    const out = new Uint8Array(src.length);
    decodePcluster(c, stored, 5, stored.length - 1, out);
    assert.deepEqual(out, src, algorithm);
    // the unpadded stream where it starts; a prefix of the output (not for LZ4: its block decodes whole)
    const head = new Uint8Array(algorithm === 'lz4' ? src.length : 1000);
    decodePcluster({ ...c, zeroPadding: false }, stored, 12, stored.length - 1, head);
    assert.deepEqual(head, src.subarray(0, head.length), `${algorithm} prefix`);
    assert.throws(() => decodePcluster({ ...c, zeroPadding: false }, stored, 5, stored.length - 1, new Uint8Array(src.length)), FormatError, `${algorithm}: padding not skipped`);
    assert.throws(() => decodePcluster(c, new Uint8Array(64), 0, 64, out), /only zero padding/);
    if (algorithm !== 'lz4') {
      const piece: DataPiece<ByteSource> = { kind: 'decode', algorithm, source: new BytesSource(stored, 'stored'), pos: 5, plen: stored.length - 6, bytes: null, skip: 100, take: 900, zeroPadding: true, dictSize: 0, structure: 'test.pcluster', at: 5 };
      assert.deepEqual(run([piece], 64), src.subarray(100, 1000), `${algorithm} through runPlan`);
    }
  }
  assert.throws(() => decodePcluster({ algorithm: 'lz4', zeroPadding: false, dictSize: 0, structure: 'test.pcluster', at: 0 }, streams.lz4, 0, streams.lz4.length, new Uint8Array(src.length + 1)), /decodes to 6000 bytes, expected 6001/);
});

test('runPlan reads blocks stored one after another in one read, at most 128 KiB at a time', () => {
  // 400 blocks of 4 KiB (LZ4 blocks with zero padding, and stored ones among them) back to back:
  // 1.6 MB of stored bytes, so 13 reads; a block elsewhere on the source breaks the run
  const parts: Uint8Array[] = [];
  const plan: DataPiece<ByteSource>[] = [];
  const want: Uint8Array[] = [];
  let pos = 0;
  for (let k = 0; k < 400; k++) {
    const plain = new Uint8Array(6000).map((_, i) => ((i >> 3) * (k + 1)) % 251);
    const block = lz4CompressBlock(plain)!;
    assert.ok(block.length <= 4096);
    if (k % 7 === 3) {
      const raw = plain.subarray(0, 4096);
      parts.push(raw);
      plan.push({ kind: 'copy', source: null as unknown as ByteSource, pos, len: 4096 });
      want.push(raw);
    } else {
      parts.push(new Uint8Array(4096 - block.length), block);
      const skip = k % 5;
      plan.push({ kind: 'lz4', source: null, pos, plen: 4096, bytes: null, length: plain.length, skip, take: plain.length - skip, zeroPadding: true, structure: 'test.block', at: pos });
      want.push(plain.subarray(skip));
    }
    pos += 4096;
  }
  const stored = new BytesSource(new Uint8Array(Buffer.concat(parts)), 'stored');
  for (const p of plan) if (p.kind !== 'zero' && p.kind !== 'bytes') p.source = stored;
  // a block out of order: a read of its own, then a new window
  plan.push({ ...(plan[1] as Extract<DataPiece<ByteSource>, { kind: 'lz4' }>) }, { ...(plan[2] as Extract<DataPiece<ByteSource>, { kind: 'lz4' }>) });
  want.push(want[1]!, want[2]!);
  const expect = new Uint8Array(Buffer.concat(want));
  for (const size of [4096, 100_000, 1 << 20]) {
    const reads: number[] = [];
    const out: Uint8Array[] = [];
    const io = {
      readAt(_: ByteSource, at: number, dest: Uint8Array) {
        reads.push(dest.length);
        dest.set(stored.bytes.subarray(at, at + dest.length));
      },
      write(b: Uint8Array) { out.push(b.slice()); },
    };
    runPlan(plan, io, new Uint8Array(size), new Uint8Array(0));
    assert.deepEqual(new Uint8Array(Buffer.concat(out)), expect, `buffer of ${size}`);
    // windows of 128 KiB; a stored block right after a window's end is read by itself (split by the buffer's room)
    assert.ok(reads.length <= 12 + 1 + 12 * 3 + 1, `${reads.length} reads through a buffer of ${size}`);
    assert.ok(reads.every((n) => n <= 32 * 4096) && reads.filter((n) => n === 32 * 4096).length >= 10, `windows: ${reads}`);
    assert.equal(reads.at(-1), 2 * 4096, 'the two blocks out of order: one read');
  }
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
    { path: bytes('/d/m'), attr: attr('reg', 9, 6), link: null, xattrs: null, plan: [
      { kind: 'decode', algorithm: 'lzma', source: dev, pos: 4096, plen: 4096, bytes: null, skip: 7, take: 4, zeroPadding: true, dictSize: 131072, structure: 'erofs.pcluster', at: 4096 },
      { kind: 'decode', algorithm: 'zstd', source: null, pos: 0, plen: 2, bytes: bytes('qq'), skip: 0, take: 3, zeroPadding: false, dictSize: 0, structure: 'erofs.pcluster', at: 8 },
      { kind: 'decode', algorithm: 'deflate', source: file, pos: 9, plen: 5, bytes: null, skip: 1, take: 2, zeroPadding: true, dictSize: 0, structure: 'erofs.pcluster', at: 9 },
    ] },
    // one part of a split file: its plan makes `part.length` bytes at `part.offset`
    { path: bytes('/d/big'), attr: attr('reg', 3 << 20, 7), link: null, xattrs: null, part: { slot: 4095, offset: 2 ** 33 + 4096, length: 8 },
      plan: [{ kind: 'copy', source: file, pos: 2 ** 34, len: 5 }, { kind: 'zero', len: 3 }] },
  ];
  const w = new JobWriter();
  for (const r of recs) assert.equal(w.add(r), true);
  assert.equal(w.add({ ...recs[recs.length - 1]!, part: { slot: 1, offset: 0, length: 9 } }), false, 'a part plan one byte short');
  assert.equal(w.add({ ...recs[0]!, plan: [{ kind: 'copy', source: new BytesSource(new Uint8Array(3)), pos: 0, len: 3 }] }), false, 'an in-memory source');
  assert.equal(w.add({ ...recs[0]!, attr: attr('reg', 14, 2) }), false, 'a plan one byte short');
  const job = w.take();
  assert.equal(w.count, 0);
  const back = [...readJob(structuredClone(job))];
  const named = (s: ByteSource | null) => (s === null ? null : s.path!);
  assert.deepEqual(back.map((r) => ({ ...r, path: Buffer.from(r.path), link: r.link && Buffer.from(r.link), xattrs: r.xattrs?.map((x) => Buffer.from(x)) ?? null, plan: r.plan?.map((p) => (p.kind === 'bytes' || ((p.kind === 'lz4' || p.kind === 'decode') && p.bytes) ? { ...p, bytes: Buffer.from(p.bytes!) } : p)) ?? null })),
    // a record without a part comes back with part null (the wire always says)
    recs.map((r) => ({ ...r, part: r.part ?? null, path: Buffer.from(r.path), link: r.link && Buffer.from(r.link), xattrs: r.xattrs?.map((x) => Buffer.from(x)) ?? null, plan: r.plan?.map((p) => (p.kind === 'copy' ? { ...p, source: named(p.source) } : p.kind === 'lz4' || p.kind === 'decode' ? { ...p, source: named(p.source), bytes: p.bytes && Buffer.from(p.bytes) } : p.kind === 'bytes' ? { ...p, bytes: Buffer.from(p.bytes) } : p)) ?? null })));
});

// mkfs.erofs 1.9.3 images whose pclusters are MicroLZMA, DEFLATE and zstd: a worker gets their plans through a job
const MODERN = join(FIXTURES, 'erofs-modern');
for (const name of ['lzma-C128k', 'deflate', 'zstd-19-C256k']) {
  test(`a job carries 'decode' pieces, and the worker's runPlan makes every file: ${name}`, { skip: existsSync(join(MODERN, `${name}.erofs`)) ? false : 'fixture missing' }, async () => {
    const fs = await openErofs(await NodeFileSource.open(join(MODERN, `${name}.erofs`), { sync: true }));
    let decodePieces = 0;
    for (const [ino, path] of await files(fs)) {
      const attr = await fs.getattr(ino);
      const plan = await fs.dataPlan(ino, 0, attr.size);
      decodePieces += plan.filter((p) => p.kind === 'decode').length;
      const w = new JobWriter();
      assert.equal(w.add({ path: bytes(path), attr, link: null, xattrs: null, plan }), true, path);
      const [rec] = [...readJob(structuredClone(w.take()))];
      const sources = new Map<string, ByteSource>([[fs.source.path ?? '', fs.source]]);
      const got = run(rec!.plan!.map((p) => (p.kind === 'copy' || p.kind === 'lz4' || p.kind === 'decode') && p.source !== null ? { ...p, source: sources.get(p.source) ?? ({ path: p.source, name: p.source } as ByteSource) } : p) as DataPiece<ByteSource>[]);
      assert.deepEqual(Buffer.from(got), Buffer.from(await fs.read(ino, 0, attr.size)), path);
    }
    assert.ok(decodePieces > 0, 'the image has compressed pclusters');
  });
}

test('jobs lie in shared arenas, which are written again only once all their jobs are done', () => {
  const w = new JobWriter();
  const attr: Attr = { ino: 1, type: 'fifo', mode: 0o10644, nlink: 1, uid: 0, gid: 0, size: 0, rdev: 0, mtime: 0, mtimeNsec: 0 };
  // a record with a 1 MB xattr: four of them fill an arena
  const rec = (k: number): LeafRecord<ByteSource> => ({ path: bytes(`/x/${k}`), attr, link: null, xattrs: [bytes('user.big'), new Uint8Array(1 << 20).fill(k)], plan: null });
  const job = (k: number) => {
    assert.equal(w.add(rec(k)), true);
    return w.take();
  };
  const check = (j: ReturnType<typeof job>, k: number) => {
    const [r] = [...readJob(j)];
    assert.equal(Buffer.from(r!.path).toString(), `/x/${k}`);
    assert.ok(r!.xattrs![1]!.every((b) => b === k), `job ${k} intact`);
  };
  const first = Array.from({ length: 3 }, (_, k) => job(k));
  const arena = first[0]!.bytes.buffer;
  assert.ok(arena instanceof SharedArrayBuffer);
  assert.ok(first.every((j) => j.bytes.buffer === arena), 'three jobs in the first arena');
  finishJob(first[1]!);
  finishJob(first[2]!);
  // job 0 is not done: its arena is not written again, however many arenas follow
  const later = Array.from({ length: 12 }, (_, k) => job(10 + k));
  assert.ok(later.every((j) => j.bytes.buffer !== arena));
  check(first[0]!, 0);
  later.forEach((j, k) => check(j, 10 + k));
  finishJob(first[0]!);
  for (const j of later) finishJob(j);
  const again = Array.from({ length: 8 }, (_, k) => job(30 + k));
  assert.ok(again.some((j) => j.bytes.buffer === arena), 'the first arena is used again');
  again.forEach((j, k) => check(j, 30 + k));
});

test('FsNow answers as the async operations do over a local file read synchronously, and says null where it would wait', async () => {
  for (const img of images) {
    const devices = img.blob ? [await NodeFileSource.open(img.blob, { sync: true })] : [];
    const fs = await openErofs(await NodeFileSource.open(img.image, { sync: true }), { devices });
    const now = fs.now;
    let answered = 0;
    const visit = async (ino: number): Promise<void> => {
      const entries = now.readdir(ino);
      assert.ok(entries, `${img.name}: readdir ${ino} at once`);
      assert.deepEqual(entries, await fs.readdir(ino));
      for (const e of entries) {
        const attr = now.getattr(e.ino);
        assert.deepEqual(attr, await fs.getattr(e.ino), `${img.name}: getattr ${e.ino}`);
        const pairs: Uint8Array[] = [];
        for (const name of await fs.listxattr(e.ino)) pairs.push(name, (await fs.getxattr(e.ino, name))!);
        assert.deepEqual(now.xattrs(e.ino)?.map((b) => Buffer.from(b)), pairs.map((b) => Buffer.from(b)), `${img.name}: xattrs ${e.ino}`);
        if (attr!.type === 'symlink') assert.deepEqual(now.readlink(e.ino), await fs.readlink(e.ino));
        if (attr!.type === 'reg') assert.deepEqual(now.dataPlan(e.ino, 0, attr!.size), await fs.dataPlan(e.ino, 0, attr!.size));
        if (attr!.type === 'dir') await visit(e.ino);
        answered++;
      }
    };
    await visit(fs.rootIno);
    assert.ok(answered > 350, `${img.name}: ${answered} entries`);
    await fs.close();
  }
  // an async source: nothing is at hand until it has been read
  const cold = await openErofs(new BytesSource(new Uint8Array(readFileSync(images[0]!.image))));
  // the directory of 350+ entries: its blocks are blocks of their own, which opening does not read
  let sub: { ino: number } | undefined;
  for (const e of await cold.readdir(cold.rootIno)) if (e.type === 'dir' && (await cold.getattr(e.ino)).size > 8192) sub = e;
  assert.ok(sub);
  const other = await openErofs(new BytesSource(new Uint8Array(readFileSync(images[0]!.image)), 'other'), { cacheBlockSize: 4096 });
  assert.equal(other.now.readdir(sub.ino), null, 'a directory whose blocks were never read');
  assert.deepEqual(await other.readdir(sub.ino), await cold.readdir(sub.ino));
  assert.ok(other.now.readdir(sub.ino), 'at hand once read');
});
