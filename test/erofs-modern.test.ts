// EROFS images as mkfs.erofs 1.9.3 writes them (../shared/fixtures/erofs-modern, 40 layouts of one
// tree, each with the 6.18 kernel's manifest of a mount of it): `layerscope extract` of each must
// match the kernel entry by entry (the fixtures' own manifest.py and compare.py), `check` must
// pass, `inspect --json` must name every feature bit as dump.erofs 1.9.3 does, and every file's
// bytes must come out the same through `read` and through a data plan with 'decode' pieces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UnsupportedError } from '../src/lib/errors.ts';
import { openErofs, type ErofsFs } from '../src/lib/erofs/reader.ts';
import { fixErofsSuperblockChecksum } from './helpers/mktree.ts';
import { checkTree } from '../src/lib/fs/check.ts';
import { decodePrefix, runPlan } from '../src/lib/fs/plan.ts';
import { BytesSource, type ByteSource } from '../src/lib/io/source.ts';
import { NodeFileSource } from '../src/lib/io/node.ts';
import { FIXTURES, REPO, tempDir } from './helpers/paths.ts';
import { hex } from '../src/lib/bytes.ts';

const DIR = join(FIXTURES, 'erofs-modern');
const CLI = join(REPO, 'bin/layerscope.mjs');
const TAR = join(DIR, 'tree.tar');

interface Fixture { name: string; expectedFrom: string; command: string; features: string[] }

const fixtures: Fixture[] = existsSync(join(DIR, 'IMAGES.txt'))
  ? readFileSync(join(DIR, 'IMAGES.txt'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => {
    const [name, expectedFrom, command, feats] = l.split('|') as [string, string, string, string];
    const features = feats.replace('compatible:', '').replace(';incompatible:', '').trim().split(/\s+/).filter(Boolean);
    return { name, expectedFrom, command, features };
  })
  : [];

/**
 * Images a feature of which this reader does not support yet, with the reason: their test is
 * skipped saying so. Empty: every fixture reads.
 */
const UNSUPPORTED: Record<string, string> = {};

const python = spawnSync('python3', ['--version']).status === 0;
const skipAll = !fixtures.length ? `no fixtures at ${DIR}` : !python ? 'python3 (manifest.py, compare.py) is not installed' : false;

const isTar = (name: string) => name.startsWith('tar-');
/** tar-index keeps its file data in the tar, the extra device */
const devicesOf = (name: string) => (name === 'tar-index' ? [TAR] : []);

async function open(name: string, planDecodePieces = false): Promise<ErofsFs> {
  const devices: ByteSource[] = [];
  for (const d of devicesOf(name)) devices.push(await NodeFileSource.open(d, { sync: true }));
  return openErofs(await NodeFileSource.open(join(DIR, `${name}.erofs`), { sync: true }), { devices, planDecodePieces });
}

/** a manifest path (os.fsdecode: a byte that is not UTF-8 is U+DC80 + byte) as its bytes, in hex */
function manifestPathKey(path: string): string {
  const parts: Buffer[] = [];
  for (const ch of path) {
    const c = ch.charCodeAt(0);
    parts.push(ch.length === 1 && c >= 0xdc80 && c <= 0xdcff ? Buffer.of(c - 0xdc00) : Buffer.from(ch, 'utf8'));
  }
  return hex(Buffer.concat(parts));
}

/** path (bytes, hex) -> sha256 of every regular file in the kernel's manifest */
function expectedHashes(name: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(DIR, `${name}.erofs.manifest.jsonl`), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { path: string; type: string; sha256?: string };
    if (r.type === 'file') out.set(manifestPathKey(r.path), r.sha256!);
  }
  return out;
}

/**
 * Every regular file of the image, read twice: through `read`, and through its data plan run by
 * runPlan (with planDecodePieces, so LZMA/DEFLATE/zstd pclusters are 'decode' pieces).
 */
async function hashesThroughReader(fs: ErofsFs, prefix: string): Promise<{ read: Map<string, string>; plan: Map<string, string> }> {
  const read = new Map<string, string>();
  const plan = new Map<string, string>();
  const walk = async (ino: number, path: Buffer): Promise<void> => {
    for (const e of await fs.readdir(ino)) {
      const p = Buffer.concat([path, Buffer.from('/'), Buffer.from(e.name)]);
      if (e.type === 'dir') await walk(e.ino, p);
      if (e.type !== 'reg') continue;
      const a = await fs.getattr(e.ino);
      const key = hex(p.subarray(prefix.length));
      read.set(key, createHash('sha256').update(await fs.read(e.ino, 0, a.size)).digest('hex'));
      const pieces = await fs.dataPlan(e.ino, 0, a.size);
      const h = createHash('sha256');
      runPlan(pieces, {
        readAt: (src, pos, dest) => {
          if (!src.readIntoSync) throw new Error(`${src.name} cannot read synchronously`);
          src.readIntoSync(pos, dest);
        },
        write: (b) => h.update(b),
      }, new Uint8Array(64 << 10), new Uint8Array(0));
      plan.set(key, h.digest('hex'));
    }
  };
  await walk(fs.rootIno, Buffer.alloc(0));
  await fs.close();
  return { read, plan };
}

for (const f of fixtures) {
  const skip = skipAll || UNSUPPORTED[f.name] || false;
  test(`erofs-modern ${f.name}: extract matches the kernel, check passes, features named (${f.command})`, { skip, timeout: 120_000 }, async () => {
    const image = join(DIR, `${f.name}.erofs`);
    const out = tempDir('ls-erofs-modern-');
    try {
      const dest = join(out, 'x');
      const dev = devicesOf(f.name).flatMap((d) => ['--device', d]);
      const r = spawnSync(process.execPath, [CLI, 'extract', image, dest, ...dev], { encoding: 'utf8' });
      assert.equal(r.status, 0, `extract exit ${r.status}: ${r.stderr}`);
      const m = spawnSync('python3', [join(DIR, 'manifest.py'), isTar(f.name) ? join(dest, 'tree') : dest], { encoding: 'utf8', maxBuffer: 1 << 26 });
      assert.equal(m.status, 0, m.stderr);
      const manifest = join(out, 'm.jsonl');
      writeFileSync(manifest, m.stdout);
      // metabox images: the kernel reads no shared xattrs for some metabox inodes; the format (and
      // the source tree) has them (fixtures README, erofs-modern-format.md §10 item 4)
      const alt = f.name.startsWith('metabox') ? ['--alt', join(DIR, 'source.manifest.jsonl')] : [];
      const c = spawnSync('python3', [join(DIR, 'compare.py'), join(DIR, `${f.name}.erofs.manifest.jsonl`), manifest, ...alt], { encoding: 'utf8' });
      assert.equal(c.status, 0, `extract differs from the kernel's view:\n${c.stdout}${c.stderr}`);
      assert.match(c.stdout, / 0 differ/);

      const fs = await open(f.name);
      const info = await fs.info();
      assert.deepEqual(info.featureNames193, f.features, 'feature names as dump.erofs 1.9.3 prints them');
      const report = await checkTree(fs);
      assert.deepEqual(report.errors, []);
      assert.ok(report.ok && report.files > 300, `check read ${report.files} files`);

      const expected = expectedHashes(f.name);
      const got = await hashesThroughReader(await open(f.name, true), isTar(f.name) ? '/tree' : '');
      assert.equal(got.read.size, expected.size);
      for (const [path, sha] of expected) {
        assert.equal(got.read.get(path), sha, `read ${path}`);
        assert.equal(got.plan.get(path), sha, `data plan ${path}`);
      }
      await fs.close();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test('erofs-modern: valid features this reader does not know are unsupported, not damage', { skip: skipAll }, async () => {
  const good = readFileSync(join(DIR, 'lzma.erofs'));
  const openBytes = (b: Uint8Array) => openErofs(new BytesSource(b, 'crafted.erofs'));
  // an incompat bit newer than 1.9.3
  const inc = new Uint8Array(good);
  const v = new DataView(inc.buffer);
  v.setUint32(1024 + 80, v.getUint32(1024 + 80, true) | 0x200, true);
  fixErofsSuperblockChecksum(inc);
  await assert.rejects(openBytes(inc), (e: unknown) => e instanceof UnsupportedError && /0x200/.test(e.message));
  // an algorithm newer than zstd in available_compr_algs
  const alg = new Uint8Array(good);
  new DataView(alg.buffer).setUint16(1024 + 84, 0x12, true);
  fixErofsSuperblockChecksum(alg);
  await assert.rejects(openBytes(alg), (e: unknown) => e instanceof UnsupportedError && /algorithm/.test(e.message));
  // an LZMA config format other than MicroLZMA
  const fmt = new Uint8Array(good);
  const lzmaCfg = 1024 + 128; // the first (only) record: le16 size, le32 dict_size, le16 format
  assert.equal(new DataView(fmt.buffer).getUint16(lzmaCfg, true), 14);
  new DataView(fmt.buffer).setUint16(lzmaCfg + 6, 1, true);
  fixErofsSuperblockChecksum(fmt);
  await assert.rejects(openBytes(fmt), (e: unknown) => e instanceof UnsupportedError && /format 1/.test(e.message));
  // the pcluster limit of an lzma image with 27-block pclusters comes from 1 MiB, not the LZ4 record it lacks
  const big = await openBytes(readFileSync(join(DIR, 'lzma-C128k.erofs')));
  assert.ok((await checkTree(big)).ok);
});

test('erofs-modern: decoders give a prefix of a stream that holds more, and refuse one that holds less', () => {
  const data = new Uint8Array(200_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251 ^ (i >> 9);
  // DEFLATE: stored blocks (the fast path cannot cut them) and Huffman blocks
  for (const level of [0, 6]) {
    const stream = deflateRawSync(data, { level });
    for (const n of [1, 4096, 65_536, 100_001, data.length]) {
      const out = new Uint8Array(n);
      decodePrefix('deflate', stream, out, 0, 'test', 0);
      assert.deepEqual(out, data.subarray(0, n), `deflate level ${level}, ${n} bytes`);
    }
    assert.throws(() => decodePrefix('deflate', stream, new Uint8Array(data.length + 1), 0, 'test', 0), FormatError);
    assert.throws(() => decodePrefix('deflate', stream.subarray(0, stream.length >> 1), new Uint8Array(data.length), 0, 'test', 0), FormatError);
  }
  // zstd: one frame with its content size, decoded whole and cut
  // zstd: a frame with its content size (from a file) is decoded whole and cut; one without it
  // (from a pipe) is decoded into growing buffers
  const dir = tempDir('ls-zstd-');
  try {
    writeFileSync(join(dir, 'd'), data);
    const frames = [spawnSync('zstd', ['-q', '-c', '-3', join(dir, 'd')]), spawnSync('zstd', ['-q', '-c', '-3'], { input: data })];
    for (const [k, z] of frames.entries()) {
      if (z.status !== 0) continue;
      const frame = new Uint8Array(z.stdout);
      for (const n of [1, 4096, 150_000, data.length]) {
        const out = new Uint8Array(n);
        decodePrefix('zstd', frame, out, 0, 'test', 0);
        assert.deepEqual(out, data.subarray(0, n), `zstd frame ${k}, ${n} bytes`);
      }
      assert.throws(() => decodePrefix('zstd', frame, new Uint8Array(data.length + 1), 0, 'test', 0), FormatError);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('erofs-modern: a DOT_OMITTED directory still looks up "." and "..", and metabox inodes name their nid as on disk', { skip: skipAll }, async () => {
  const enc = new TextEncoder();
  const dot = await open('dot-omitted');
  const root = await dot.inodeDetails(dot.rootIno);
  assert.equal((root.format as number) & 0x10, 0x10, 'the root has DOT_OMITTED');
  assert.equal((await dot.lookup(dot.rootIno, enc.encode('.')))?.ino, dot.rootIno);
  assert.equal((await dot.lookup(dot.rootIno, enc.encode('..')))?.ino, dot.rootIno);
  assert.ok(!(await dot.readdir(dot.rootIno)).some((e) => e.name.length <= 2 && e.name.every((c) => c === 0x2e)));
  await dot.close();
  const mb = await open('metabox-lz4hc-fragments');
  const info = await mb.info();
  assert.equal(info.rootNid, '0x8000000000000000');
  assert.equal(typeof info.packedNid, 'number');
  const d = await mb.inodeDetails(mb.rootIno);
  assert.equal(d.inMetabox, true);
  assert.equal(d.nid, '0x8000000000000000');
  await mb.close();
});
