// Hostile-input mutation sweep: seeded mutations of every input kind Layerscope reads (EROFS from
// mkfs.erofs 1.5 and 1.9.3, composefs, Nydus RAFS v5/v6 bootstraps and their blobs, the ToC blob,
// tar, tar.gz, composefs dumps, plus a few hand-made hostile inputs), each opened the way the CLI
// opens a file, then extracted with the CLI's extractor into a fresh destination inside a
// per-variant sandbox beside a canary directory, exported as tar into a discarding sink and checked
// (`layerscope extract`, `export`, `check`).
//
// Verdicts per variant:
//   escape  the canary changed (content or any metadata, ctime included) or the sandbox holds
//           anything besides the destination and the canary, or the child's work folder changed;
//   crash   an operation threw something that is not a typed error (isTypedError), or the child died;
//   hang    no result within the per-variant limit (the child is killed, the sweep goes on);
//   blowup  maxRSS (a high-water mark) rose during the variant by more than 64 MiB + 32 × input
//           size, or the child ran out of heap.
//
// Variants run in child processes (extract sets process.umask and spawns python3, so not worker
// threads), at most two at once, each child running batches of variants one after another and
// streaming one JSON line per variant. Labels are `TARGET#K` (K = 0 is the unmutated input);
// `HOSTILE_ONLY="erofs-1.5/lz4hc#1234,tar/hostile-symlink-dir#3"` reruns just those, with details.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { makeVariant, type Region } from './corrupt.ts';
import { fixErofsSuperblockChecksum, makeTestTree, MKFS_VARIANTS, prng } from './mktree.ts';
import { FIXTURES, tempDir } from './paths.ts';
import { nydusFixture, RAFS } from './nydus.ts';

// ---- targets ----------------------------------------------------------------------------------

export type Fixup = 'erofs-sb' | 'tar' | 'targz' | 'dump';

export interface InputFile {
  /** path of the pristine bytes */
  path: string;
  /** file name the variant is written under (RAFS matches blobs by their names) */
  name: string;
}

export interface Target {
  /** e.g. "erofs-1.5/lz4hc"; labels are `${name}#${k}` */
  name: string;
  image: InputFile;
  /** --blob / --device files, in order */
  extras: InputFile[];
  /** composefs object store (--objects) */
  objects?: string;
  /** -1: the image is mutated; i >= 0: extras[i] is (the image stays pristine) */
  mutate: number;
  variants: number;
  regions?: Region[];
  uniformWeight?: number;
  fixup?: Fixup;
  /** tar: offsets of the header blocks of the pristine archive (the fixup recomputes their checksums) */
  tarHeaders?: number[];
  /** fraction of variants extracted with xattrs on (the python3 helper's setxattr path) */
  xattrFraction?: number;
}

/** FNV-1a: a target's seed comes from its name, so a label means the same variant whatever else is in the corpus. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface Variant {
  label: string;
  /** what was done to the input */
  detail: string;
  /** the mutated file's bytes */
  bytes: Uint8Array;
  /** whether this variant extracts with xattrs */
  xattrs: boolean;
}

/** Variant `k` of a target, deterministic from (target name, k); k = 0 is the pristine input. */
export function makeHostileVariant(t: Target, k: number): Variant {
  const label = `${t.name}#${k}`;
  const file = t.mutate < 0 ? t.image : t.extras[t.mutate]!;
  const pristine = new Uint8Array(readFileSync(file.path));
  const seed = seedOf(t.name);
  const rnd = prng((seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0);
  const xattrs = k === 0 || rnd() < (t.xattrFraction ?? 0.25);
  if (k === 0) return { label, detail: 'pristine', bytes: pristine, xattrs };
  const bytesVariant = (image: Uint8Array, regions = t.regions) => makeVariant({ image, seed, regions, uniformWeight: t.uniformWeight ?? 1, label: t.name }, k);
  const strip = (l: string) => l.slice(l.indexOf(' ') + 1);
  if (t.fixup === 'dump' && rnd() < 0.7) {
    const r = mutateDump(pristine, rnd);
    return { label, detail: `dump: ${r.detail}`, bytes: r.bytes, xattrs };
  }
  if (t.fixup === 'targz' && rnd() < 0.7) {
    // mutate the tar inside, headers fixed up so it still reads as a tar, then gzip again
    const inner = new Uint8Array(gunzipSync(pristine));
    const v = bytesVariant(inner, tarRegions(t.tarHeaders ?? []));
    if (rnd() < 0.8) fixTarHeaders(v.bytes, t.tarHeaders ?? []);
    return { label, detail: `inner tar: ${strip(v.label)}`, bytes: new Uint8Array(gzipSync(v.bytes, { level: 1 })), xattrs };
  }
  const v = bytesVariant(pristine);
  let detail = strip(v.label);
  if (t.fixup === 'erofs-sb' && k % 2 === 0) {
    fixErofsSuperblockChecksum(v.bytes);
    detail += ' +sb-checksum';
  } else if (t.fixup === 'tar' && rnd() < 0.8) {
    fixTarHeaders(v.bytes, t.tarHeaders ?? []);
    detail += ' +tar-checksums';
  }
  return { label, detail, bytes: v.bytes, xattrs };
}

// ---- tar helpers ------------------------------------------------------------------------------

/** Offsets of the header blocks of a well-formed tar (PAX/GNU extension headers included). */
export function tarHeaderOffsets(tar: Uint8Array): number[] {
  const out: number[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    out.push(off);
    const size = parseInt(new TextDecoder().decode(h.subarray(124, 136)).replace(/\0.*$/s, '').trim() || '0', 8);
    if (!Number.isFinite(size)) break;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Recompute the checksum of each header block at `offsets` (mutations then reach the field parsers). */
export function fixTarHeaders(b: Uint8Array, offsets: number[]): void {
  for (const off of offsets) {
    if (off + 512 > b.length) continue;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[off + i]!;
    const s = sum.toString(8).padStart(6, '0') + '\0 ';
    for (let i = 0; i < 8; i++) b[off + 148 + i] = s.charCodeAt(i);
  }
}

const tarRegions = (headers: number[]): Region[] => headers.map((h, i) => ({ name: `hdr${i}`, start: h, end: h + 512, weight: 4 }));

interface TarEntrySpec {
  name: string;
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  link?: string;
  data?: string | Uint8Array;
  mode?: number;
  uid?: number;
  mtime?: number;
}

/** A plain ustar archive (hand-made hostile inputs). */
export function makeTar(entries: TarEntrySpec[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const e of entries) {
    const h = new Uint8Array(512);
    const put = (off: number, len: number, s: string) => h.set(enc.encode(s).subarray(0, len), off);
    const oct = (off: number, len: number, v: number) => put(off, len, v.toString(8).padStart(len - 1, '0') + '\0');
    const data = typeof e.data === 'string' ? enc.encode(e.data) : e.data ?? new Uint8Array(0);
    put(0, 100, e.name);
    oct(100, 8, e.mode ?? 0o644);
    oct(108, 8, e.uid ?? 0);
    oct(116, 8, 0);
    oct(124, 12, e.type === undefined || e.type === '0' ? data.length : 0);
    oct(136, 12, e.mtime ?? 1_600_000_000);
    put(156, 1, e.type ?? '0');
    put(157, 100, e.link ?? '');
    put(257, 6, 'ustar\0');
    put(263, 2, '00');
    blocks.push(h);
    fixTarHeaders(h, [0]);
    if (e.type === undefined || e.type === '0') {
      const d = new Uint8Array(Math.ceil(data.length / 512) * 512);
      d.set(data);
      blocks.push(d);
    }
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((s, b) => s + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** Hand-made tars, each trying one way out of the destination (a reader must refuse or contain it). */
export const HOSTILE_TARS: Record<string, TarEntrySpec[]> = {
  'dotdot': [{ name: 'ok', data: 'fine' }, { name: '../canary/pwned', data: 'escaped' }],
  'dotdot-deep': [{ name: 'a/', type: '5', mode: 0o755 }, { name: 'a/../../canary/pwned', data: 'escaped' }],
  'absolute': [{ name: '/canary-abs', data: 'abs' }, { name: '/../canary/pwned', data: 'escaped' }],
  'symlink-dir': [{ name: 'out', type: '2', link: '../canary' }, { name: 'out/pwned', data: 'escaped' }],
  'symlink-replace-dir': [{ name: 'd/', type: '5', mode: 0o755 }, { name: 'd', type: '2', link: '../canary' }, { name: 'd/pwned', data: 'escaped' }],
  'symlink-then-file': [{ name: 'f', type: '2', link: '../canary/file1' }, { name: 'f', data: 'overwrite through the link' }],
  'symlink-abs-chain': [{ name: 'l1', type: '2', link: '/' }, { name: 'l2', type: '2', link: 'l1/tmp' }, { name: 'l3', type: '2', link: '../canary/sub' }, { name: 'x', data: 'x' }],
  'hardlink-out': [{ name: 'h', type: '1', link: '../canary/file1' }],
  'hardlink-via-symlink': [{ name: 's', type: '2', link: '../canary' }, { name: 'h', type: '1', link: 's/file1' }],
  'fifo-over-symlink': [{ name: 'p', type: '2', link: '../canary/file1' }, { name: 'p', type: '6', mode: 0o777, uid: 1234 }],
  'dir-over-symlink': [{ name: 'q', type: '2', link: '../canary' }, { name: 'q/', type: '5', mode: 0o777 }, { name: 'q/pwned', data: 'escaped' }],
};

// ---- dump mutations ---------------------------------------------------------------------------

const HOSTILE_FIELDS = [
  '..', '.', '/..', '/../canary/pwned', '/a/../../canary', '-', '', '0', '-1', '18446744073709551616', '99999999999999999999999',
  '4294967296', 'ffffffff', '1.5', '1e308', 'NaN', '\\x00', '\\x2f', '/\\x2e\\x2e', '\\', 'a'.repeat(300), '../../canary/file1',
  '/canary/file1', '120777', '40777', '20777', '60777', '10777', '140777', '100777', '0.999999999', '1633950376.1000000000',
  'trusted.overlay.redirect=/../../canary', 'user.x=' + 'y'.repeat(70000), '@@@', 'ab/cdef', '00/' + '0'.repeat(62),
];

/** Line-level and field-level mutations of a composefs dump (1 to 4 of them). */
function mutateDump(pristine: Uint8Array, rnd: () => number): { bytes: Uint8Array; detail: string } {
  const text = Buffer.from(pristine).toString('latin1');
  const lines = text.split('\n');
  const last = lines.length > 1 && lines[lines.length - 1] === '' ? lines.pop() : undefined;
  const pick = () => Math.floor(rnd() * lines.length);
  const parts: string[] = [];
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n && lines.length; i++) {
    const op = rnd();
    const at = pick();
    if (op < 0.12) {
      lines.splice(at, 1);
      parts.push(`del@${at}`);
    } else if (op < 0.24) {
      lines.splice(at, 0, lines[at]!);
      parts.push(`dup@${at}`);
    } else if (op < 0.34) {
      const b = pick();
      [lines[at], lines[b]] = [lines[b]!, lines[at]!];
      parts.push(`swap@${at},${b}`);
    } else if (op < 0.44) {
      // a copy of a line under another line's path (a child of it, or the same name)
      const b = pick();
      const fa = lines[at]!.split(' ');
      const fb = lines[b]!.split(' ');
      fa[0] = rnd() < 0.5 ? `${fb[0]}/${(fa[0] ?? 'x').split('/').pop()}` : fb[0]!;
      lines.splice(at + 1, 0, fa.join(' '));
      parts.push(`reparent@${at}->${b}`);
    } else {
      const fields = lines[at]!.split(' ');
      const f = Math.floor(rnd() * Math.max(1, fields.length + 1));
      const v = HOSTILE_FIELDS[Math.floor(rnd() * HOSTILE_FIELDS.length)]!;
      fields[f] = f === 0 && v && !v.startsWith('/') ? `${fields[0]}/${v}` : v;
      lines[at] = fields.join(' ');
      parts.push(`field@${at}.${f}=${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)}`);
    }
  }
  const out = lines.join('\n') + (last !== undefined ? '\n' : '');
  return { bytes: new Uint8Array(Buffer.from(out, 'latin1')), detail: parts.join(',') };
}

// ---- corpus -----------------------------------------------------------------------------------

/** How many variants per target of each family (the total is what CI runs). */
export interface CorpusCounts {
  erofs15: number;
  erofsModern: number;
  composefsGolden: number;
  composefsBuilt: number;
  rafs: number;
  rafsBlob: number;
  tar: number;
  tarHostile: number;
  targz: number;
  dump: number;
  crafted: number;
}

export const DEFAULT_COUNTS: CorpusCounts = {
  erofs15: 110, erofsModern: 18, composefsGolden: 30, composefsBuilt: 150, rafs: 90, rafsBlob: 60,
  tar: 150, tarHostile: 20, targz: 100, dump: 18, crafted: 30,
};

const file = (path: string, name = basename(path)): InputFile => ({ path, name });

/** EROFS metadata regions (inode cores, xattrs, dirent blocks, inline tails, chunk maps, compressed indexes), found with the reader. */
async function erofsRegions(image: string, extras: string[]): Promise<Region[]> {
  const regions: Region[] = [];
  try {
    await import('../../src/lib/formats.ts');
    const { openImage } = await import('../../src/lib/open.ts');
    const { walk } = await import('../../src/lib/fs/path.ts');
    const { BytesSource } = await import('../../src/lib/io/source.ts');
    const fs = await openImage(new BytesSource(new Uint8Array(readFileSync(image)), basename(image)), { blobs: extras.map((p) => new BytesSource(new Uint8Array(readFileSync(p)), basename(p))) });
    const seen = new Set<number>();
    for await (const e of walk(fs)) {
      if (seen.has(e.attr.ino) || seen.size > 3000) continue;
      seen.add(e.attr.ino);
      type D = { nid?: number; offset?: number; inodeSize?: number; xattr?: { size: number; shared?: { offset: number }[] }; data?: { kind: string; blocks?: { offset?: number; length: number }[]; inline?: { offset: number; length: number } | null; mapOffset?: number; count?: number; indexes?: boolean; indexOffset?: number; lclusters?: number; headerOffset?: number } };
      const d = (await fs.inodeDetails(e.attr.ino).catch(() => ({}))) as D;
      if (typeof d.offset !== 'number' || typeof d.inodeSize !== 'number') continue;
      regions.push({ name: `inode${d.nid}`, start: d.offset, end: d.offset + d.inodeSize + (d.xattr?.size ?? 0), weight: 1 });
      for (const s of d.xattr?.shared ?? []) regions.push({ name: 'shared-xattr', start: s.offset, end: s.offset + 8, weight: 0.3 });
      const data = d.data;
      if (!data) continue;
      if (data.kind === 'flat' && e.attr.type === 'dir') for (const b of data.blocks ?? []) if (b.offset !== undefined) regions.push({ name: `dirblocks${d.nid}`, start: b.offset, end: b.offset + b.length, weight: 2 });
      if (data.inline) regions.push({ name: `inline${d.nid}`, start: data.inline.offset, end: data.inline.offset + data.inline.length, weight: e.attr.type === 'dir' ? 2 : 0.5 });
      if (data.kind === 'chunks' && data.mapOffset !== undefined) regions.push({ name: `chunkmap${d.nid}`, start: data.mapOffset, end: data.mapOffset + (data.count ?? 1) * (data.indexes ? 8 : 4), weight: 1 });
      if (data.kind === 'compressed' && data.indexOffset !== undefined) {
        const start = (data.headerOffset ?? -1) >= 0 ? data.headerOffset! : data.indexOffset;
        regions.push({ name: `zindex${d.nid}`, start, end: data.indexOffset + Math.max(8, (data.lclusters ?? 4) * 2), weight: 2 });
      }
    }
  } catch {
    // unreadable today (UnsupportedError): mutations land on the superblock or anywhere
  }
  const total = regions.reduce((s, r) => s + r.weight, 0) || 10;
  regions.push({ name: 'superblock', start: 1024, end: 1024 + 160, weight: total * 0.15 });
  return regions;
}

const v5Regions = (firstInode: number, size: number): Region[] => [
  { name: 'superblock', start: 0, end: 80, weight: 2 },
  { name: 'tables', start: 8192, end: firstInode, weight: 2 },
  { name: 'inodes', start: firstInode, end: size, weight: 6 },
];
const v6Regions: Region[] = [
  { name: 'superblocks+devslot', start: 1024, end: 1536, weight: 3 },
  { name: 'blob table', start: 4096, end: 4352, weight: 2 },
  { name: 'inodes+dirents', start: 12288, end: 12640, weight: 5 },
  { name: 'chunk table', start: 16384, end: 16544, weight: 2 },
];
const tocRegions: Region[] = [
  { name: 'chunks', start: 0, end: 2829, weight: 1 },
  { name: 'CI+header', start: 3341, end: 3389 + 64, weight: 2 },
  { name: 'tar headers', start: 2829, end: 2829 + 512, weight: 1 },
  { name: 'image.boot (zstd)', start: 7997, end: 8498, weight: 2 },
  { name: 'ToC', start: 9010, end: 10034, weight: 4 },
];

/** mkfs.erofs 1.5 images with a fixed build time and UUID (byte-identical from run to run: labels stay reproducible; fsck.erofs accepts them). */
function buildErofs15(dir: string): { name: string; image: string; blob?: string }[] {
  const src = join(dir, 'src');
  const srcSmallIds = join(dir, 'src-small-ids');
  if (!existsSync(src)) makeTestTree({ dir: src, small: true });
  const out: { name: string; image: string; blob?: string }[] = [];
  for (const v of MKFS_VARIANTS) {
    if (v.compact && !existsSync(srcSmallIds)) makeTestTree({ dir: srcSmallIds, bigIds: false, small: true });
    const image = join(dir, `${v.name}.erofs`);
    const blob = v.blob ? join(dir, `${v.name}.blob`) : undefined;
    if (!existsSync(image)) {
      const args = v.args.map((a) => a.replace('BLOB', blob ?? ''));
      execFileSync('mkfs.erofs', ['--quiet', ...args, image, v.compact ? srcSmallIds : src], { stdio: ['ignore', 'ignore', 'pipe'] });
      // mkfs.erofs 1.5's -T would also set every file's mtime: fix the build time and UUID afterwards
      const b = new Uint8Array(readFileSync(image));
      const sb = new DataView(b.buffer, 1024, 128);
      sb.setBigUint64(24, 1_700_000_000n, true);
      sb.setUint32(32, 0, true);
      for (let i = 0; i < 16; i++) b[1024 + 48 + i] = 0x5a ^ i;
      fixErofsSuperblockChecksum(b);
      writeFileSync(image, b);
    }
    out.push({ name: v.name, image, ...(blob ? { blob } : {}) });
  }
  return out;
}

/**
 * Every target, its inputs made under `dir` (mkfs.erofs 1.5 images, composefs images and an object
 * store from Layerscope's writer, tars, tar.gz, dumps, hand-made hostile inputs) or taken from the
 * shared fixtures. `only`: names of the targets wanted (others are not built).
 */
export async function prepareCorpus(dir: string, counts: CorpusCounts = DEFAULT_COUNTS, only?: Set<string>): Promise<Target[]> {
  mkdirSync(dir, { recursive: true });
  const targets: Target[] = [];
  const want = (name: string) => !only || only.has(name);
  const add = (t: Target) => {
    if (want(t.name) && t.variants > 0) targets.push(t);
  };
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, bytes);
    return p;
  };
  const anyWanted = (prefix: string) => !only || [...only].some((n) => n.startsWith(prefix));

  // EROFS by mkfs.erofs 1.5
  if (anyWanted('erofs-1.5/') || anyWanted('tar/') || anyWanted('targz/') || anyWanted('dump/') || anyWanted('composefs-built/') || anyWanted('crafted/')) {
    const e15 = buildErofs15(join(dir, 'erofs15'));
    for (const img of e15) {
      const name = `erofs-1.5/${img.name}`;
      if (!want(name)) continue;
      add({ name, image: file(img.image), extras: img.blob ? [file(img.blob)] : [], mutate: -1, variants: counts.erofs15, regions: await erofsRegions(img.image, img.blob ? [img.blob] : []), uniformWeight: 3, fixup: 'erofs-sb' });
    }
  }

  // EROFS by mkfs.erofs 1.9.3
  const modern = join(FIXTURES, 'erofs-modern');
  if (existsSync(modern)) {
    for (const f of readdirSync(modern).filter((n) => n.endsWith('.erofs')).sort()) {
      const name = `erofs-1.9/${f.replace(/\.erofs$/, '')}`;
      if (!want(name)) continue;
      const extras = f === 'tar-index.erofs' && existsSync(join(modern, 'tree.tar')) ? [file(join(modern, 'tree.tar'))] : [];
      add({ name, image: file(join(modern, f)), extras, mutate: -1, variants: counts.erofsModern, regions: await erofsRegions(join(modern, f), extras.map((e) => e.path)), uniformWeight: 3, fixup: 'erofs-sb' });
    }
  }

  // composefs: the fixtures (no object store: files are external)
  const golden = join(FIXTURES, 'composefs', 'golden');
  if (existsSync(golden)) {
    for (const f of readdirSync(golden).filter((n) => n.endsWith('.cfs')).sort()) {
      const name = `composefs/${f.replace(/\.cfs$/, '')}`;
      if (!want(name)) continue;
      const big = statSync(join(golden, f)).size > 200_000;
      add({ name, image: file(join(golden, f)), extras: [], mutate: -1, variants: big ? Math.ceil(counts.composefsGolden / 3) : counts.composefsGolden, regions: await erofsRegions(join(golden, f), []), uniformWeight: 3 });
    }
  }

  // trees made with Layerscope's own code: composefs with an object store, tar, tar.gz, dump
  const built = anyWanted('composefs-built/') || anyWanted('tar/') || anyWanted('targz/') || anyWanted('dump/') || anyWanted('crafted/');
  if (built) {
    const { treeFromDirectory } = await import('../../src/lib/fs/sources/node.ts');
    const { treeFs } = await import('../../src/lib/fs/sources/treefs.ts');
    const { exportTar } = await import('../../src/lib/tar/writer.ts');
    const { writeDump } = await import('../../src/lib/composefs/dump.ts');
    const { buildComposefs } = await import('../../src/lib/composefs/writer.ts');
    const { buildErofs } = await import('../../src/lib/erofs/writer.ts');
    const { objectsOf } = await import('../../src/lib/composefs/objects.ts');
    const srcDir = join(dir, 'erofs15', 'src');
    const tree = await treeFromDirectory(srcDir);
    const sinkBytes = () => {
      const chunks: Uint8Array[] = [];
      return { chunks, write(c: Uint8Array) { chunks.push(c.slice()); }, close() {}, bytes: () => new Uint8Array(Buffer.concat(chunks)) };
    };
    // composefs image + object store
    if (anyWanted('composefs-built/')) {
      const objects = join(dir, 'objects');
      for (const o of await objectsOf(tree)) {
        const p = join(objects, o.payload);
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, await o.content.read(0, o.size));
      }
      const s = sinkBytes();
      await buildComposefs(tree, {}, s);
      const p = write('built/tree.cfs', s.bytes());
      add({ name: 'composefs-built/tree', image: file(p), extras: [], objects, mutate: -1, variants: counts.composefsBuilt, regions: await erofsRegions(p, []), uniformWeight: 3 });
    }
    if (anyWanted('tar/') || anyWanted('targz/')) {
      const s = sinkBytes();
      await exportTar(treeFs(tree), 1, s);
      const tar = s.bytes();
      const tarPath = write('built/tree.tar', tar);
      add({ name: 'tar/tree', image: file(tarPath), extras: [], mutate: -1, variants: counts.tar, fixup: 'tar', tarHeaders: tarHeaderOffsets(tar), regions: tarRegions(tarHeaderOffsets(tar)), uniformWeight: 2 });
      const gz = write('built/tree.tar.gz', new Uint8Array(gzipSync(tar, { level: 6 })));
      add({ name: 'targz/tree', image: file(gz), extras: [], mutate: -1, variants: counts.targz, fixup: 'targz', tarHeaders: tarHeaderOffsets(tar), uniformWeight: 1 });
    }
    if (anyWanted('dump/')) {
      const d = write('built/tree.dump', await writeDump(treeFs(tree)));
      add({ name: 'dump/tree', image: file(d), extras: [], mutate: -1, variants: counts.dump * 4, fixup: 'dump' });
    }
    // hand-made trees a writer happily stores and an extractor must not trust: a name twice
    // (a symlink out and a fifo owned by someone else / a directory with a file in it), a symlink
    // to the canary with a directory of the same name
    if (anyWanted('crafted/')) {
      const { newDir } = await import('../../src/lib/fs/tree.ts');
      const { BytesSource } = await import('../../src/lib/io/source.ts');
      type SI = import('../../src/lib/fs/tree.ts').SourceInode;
      const enc = new TextEncoder();
      const leaf = (type: SI['type'], extra: Partial<SI> = {}): SI => ({ type, perm: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, mtimeNsec: 0, size: 0, rdev: 0, xattrs: [], ...extra });
      const fileNode = (s: string) => leaf('reg', { size: s.length, content: new BytesSource(enc.encode(s), 'crafted') });
      const link = (target: string) => leaf('symlink', { perm: 0o777, target: enc.encode(target), size: target.length });
      const root = newDir(0o755);
      const kids = root.children!;
      for (let i = 0; i < 70; i++) kids.push({ name: enc.encode(`a${String(i).padStart(3, '0')}`), inode: fileNode(`file ${i}`) });
      // the writers refuse a name twice: the second of each pair is written as DUPB / DUPD and
      // renamed in the image bytes afterwards (same length, so every offset stays)
      kids.push({ name: enc.encode('DUPA'), inode: link('../canary/file1') });
      kids.push({ name: enc.encode('DUPB'), inode: leaf('fifo', { perm: 0o777, uid: 4321, gid: 4321 }) });
      const sub = newDir(0o777);
      sub.children!.push({ name: enc.encode('pwned'), inode: fileNode('escaped') });
      kids.push({ name: enc.encode('DUPC'), inode: link('../canary') });
      kids.push({ name: enc.encode('DUPD'), inode: sub });
      kids.push({ name: enc.encode('z'), inode: link('/') });
      kids.push({ name: enc.encode('zz'), inode: link('../canary/sub') });
      const crafted = { root, notes: [] as string[] };
      const rename = (b: Uint8Array): Uint8Array => {
        const s = Buffer.from(b).toString('latin1').replaceAll('DUPB', 'DUPA').replaceAll('DUPD', 'DUPC');
        const out = new Uint8Array(Buffer.from(s, 'latin1'));
        fixErofsSuperblockChecksum(out);
        return out;
      };
      for (const [fmt, ext] of [['erofs', 'erofs'], ['composefs', 'cfs'], ['rafs-v5', 'boot'], ['rafs-v6', 'boot']] as const) {
        const name = `crafted/dup-names-${fmt}`;
        if (!want(name)) continue;
        let extras: string[] = [];
        let bytes: Uint8Array;
        if (fmt === 'erofs' || fmt === 'composefs') {
          const s = sinkBytes();
          if (fmt === 'erofs') await buildErofs(crafted, {}, s);
          else await buildComposefs(crafted, { inlineMax: 4096 }, s);
          bytes = s.bytes();
        } else {
          const { buildRafsToFiles } = await import('../../src/lib/rafs/builder/node.ts');
          const blobs = join(dir, `built/dup-${fmt}-blobs`);
          mkdirSync(blobs, { recursive: true });
          const boot = join(dir, `built/dup-${fmt}.raw`);
          const r = await buildRafsToFiles(crafted, { version: fmt === 'rafs-v5' ? 5 : 6 }, boot, blobs);
          extras = r.blobPath ? [r.blobPath] : [];
          bytes = new Uint8Array(readFileSync(boot));
        }
        const p = write(`built/dup-names-${fmt}.${ext}`, rename(bytes));
        add({ name, image: file(p), extras: extras.map((e) => file(e)), mutate: -1, variants: counts.crafted, regions: await erofsRegions(p, extras), uniformWeight: 3, xattrFraction: 1 });
      }
      // deep and long: a path past PATH_MAX, a name past NAME_MAX, a symlink target past PATH_MAX,
      // in every format a writer here makes (each writer may refuse what it cannot store)
      const deep = newDir(0o755);
      deep.children!.push({ name: enc.encode('n'.repeat(255)), inode: fileNode('longest name') });
      deep.children!.push({ name: enc.encode('m'.repeat(300)), inode: fileNode('name too long') });
      deep.children!.push({ name: enc.encode('longtarget'), inode: link('a/'.repeat(2100)) });
      let d = deep;
      for (let i = 0; i < 24; i++) {
        const next = newDir(0o755);
        d.children!.push({ name: enc.encode(String(i % 10).repeat(200)), inode: next });
        d = next;
      }
      d.children!.push({ name: enc.encode('bottom'), inode: fileNode('at the bottom') });
      const deepTree = { root: deep, notes: [] as string[] };
      // image writers refuse a name over 255 bytes: theirs lacks that one
      const deepImageTree = { root: { ...deep, children: deep.children!.filter((c) => c.name.length <= 255) }, notes: [] as string[] };
      const deepFormats: [string, () => Promise<{ image: string; extras: string[] }>][] = [
        ['tar', async () => { const s = sinkBytes(); await exportTar(treeFs(deepTree), 1, s); return { image: write('crafted/deep.tar', s.bytes()), extras: [] }; }],
        ['targz', async () => { const s = sinkBytes(); await exportTar(treeFs(deepTree), 1, s); return { image: write('crafted/deep.tar.gz', new Uint8Array(gzipSync(s.bytes()))), extras: [] }; }],
        ['dump', async () => ({ image: write('crafted/deep.dump', await writeDump(treeFs(deepTree))), extras: [] })],
        ['erofs', async () => { const s = sinkBytes(); await buildErofs(deepImageTree, {}, s); return { image: write('crafted/deep.erofs', s.bytes()), extras: [] }; }],
        ['composefs', async () => { const s = sinkBytes(); await buildComposefs(deepImageTree, { inlineMax: 4096 }, s); return { image: write('crafted/deep.cfs', s.bytes()), extras: [] }; }],
        ...([5, 6] as const).map((version): [string, () => Promise<{ image: string; extras: string[] }>] => [`rafs-v${version}`, async () => {
          const { buildRafsToFiles } = await import('../../src/lib/rafs/builder/node.ts');
          const blobs = join(dir, `crafted/deep-v${version}-blobs`);
          mkdirSync(blobs, { recursive: true });
          const r = await buildRafsToFiles(deepImageTree, { version }, join(dir, `crafted/deep-v${version}.boot`), blobs);
          return { image: join(dir, `crafted/deep-v${version}.boot`), extras: r.blobPath ? [r.blobPath] : [] };
        }]),
      ];
      for (const [fmt, make] of deepFormats) {
        const name = `crafted/deep-${fmt}`;
        if (!want(name)) continue;
        try {
          mkdirSync(join(dir, 'crafted'), { recursive: true });
          const { image, extras } = await make();
          const bytes = new Uint8Array(readFileSync(image));
          const isTar = fmt === 'tar';
          const headers = fmt === 'tar' || fmt === 'targz' ? tarHeaderOffsets(fmt === 'tar' ? bytes : new Uint8Array(gunzipSync(bytes))) : [];
          add({
            name, image: file(image), extras: extras.map((e) => file(e)), mutate: -1, variants: counts.crafted, xattrFraction: 0.5, uniformWeight: 3,
            ...(isTar ? { fixup: 'tar' as const, tarHeaders: headers, regions: tarRegions(headers) } : fmt === 'targz' ? { fixup: 'targz' as const, tarHeaders: headers } : fmt === 'dump' ? { fixup: 'dump' as const } : { regions: await erofsRegions(image, extras) }),
          });
        } catch (e) {
          process.stderr.write(`# hostile corpus: ${name} not built: ${(e as Error).message}\n`);
        }
      }
      if (want('crafted/dup-names-dump')) {
        const dump = [
          '/ 4096 40755 2 0 0 0 1600000000.0 - - -',
          '/x 15 120777 1 0 0 0 1600000000.0 ../canary/file1 - -',
          '/x 0 10777 1 4321 4321 0 1600000000.0 - - -',
          '/y 9 120777 1 0 0 0 1600000000.0 ../canary - -',
          '/y 4096 40777 2 0 0 0 1600000000.0 - - -',
          '/y/pwned 7 100644 1 0 0 0 1600000000.0 - escaped -',
          '',
        ].join('\n');
        add({ name: 'crafted/dup-names-dump', image: file(write('built/dup-names.dump', enc.encode(dump))), extras: [], mutate: -1, variants: counts.crafted, fixup: 'dump' });
      }
    }
  }

  // tar fixtures and hand-made hostile tars
  for (const f of ['all-entry-type.tar', 'all-entry-type-macos.tar']) {
    const p = nydusFixture(`${RAFS.TAR_DIR}/${f}`);
    if (!existsSync(p)) continue;
    const tar = new Uint8Array(readFileSync(p));
    add({ name: `tar/${f.replace(/\.tar$/, '')}`, image: file(p), extras: [], mutate: -1, variants: Math.ceil(counts.tar / 3), fixup: 'tar', tarHeaders: tarHeaderOffsets(tar), regions: tarRegions(tarHeaderOffsets(tar)), uniformWeight: 1 });
  }
  for (const [n, entries] of Object.entries(HOSTILE_TARS)) {
    const name = `tar/hostile-${n}`;
    if (!want(name)) continue;
    const tar = makeTar(entries);
    const p = write(`hostile/${n}.tar`, tar);
    add({ name, image: file(p), extras: [], mutate: -1, variants: counts.tarHostile, fixup: 'tar', tarHeaders: tarHeaderOffsets(tar), regions: tarRegions(tarHeaderOffsets(tar)), uniformWeight: 1, xattrFraction: 1 });
    const gname = `targz/hostile-${n}`;
    if (want(gname)) add({ name: gname, image: file(write(`hostile/${n}.tar.gz`, new Uint8Array(gzipSync(tar)))), extras: [], mutate: -1, variants: Math.ceil(counts.tarHostile / 4), fixup: 'targz', tarHeaders: tarHeaderOffsets(tar), xattrFraction: 1 });
  }
  for (const f of ['zran-single-stream.tar.gz', 'zran-two-streams.tar.gz', 'zran-zero-file.tar.gz']) {
    const p = nydusFixture(`${RAFS.ZRAN_DIR}/${f}`);
    if (!existsSync(p)) continue;
    let headers: number[] = [];
    try {
      headers = tarHeaderOffsets(new Uint8Array(gunzipSync(readFileSync(p))));
    } catch { /* not one gzip member */ }
    add({ name: `targz/${f.replace(/\.tar\.gz$/, '')}`, image: file(p), extras: [], mutate: -1, variants: Math.ceil(counts.targz / 2), fixup: 'targz', tarHeaders: headers });
  }

  // composefs dumps (text)
  const assets = join(FIXTURES, 'composefs', 'assets');
  if (existsSync(assets)) {
    for (const f of readdirSync(assets).filter((n) => n.endsWith('.dump')).sort()) {
      add({ name: `dump/${f.replace(/\.dump$/, '')}`, image: file(join(assets, f)), extras: [], mutate: -1, variants: counts.dump, fixup: 'dump' });
    }
  }

  // Nydus RAFS bootstraps with and without their blobs, the blobs themselves, the ToC blob
  const rafs: [string, string, string[], number, Region[] | undefined][] = [
    ['rafs-v5/sha256-none', RAFS.V5, [RAFS.BLOB_PLAIN], -1, v5Regions(8544, 18648)],
    ['rafs-v5/sha256-none-noblob', RAFS.V5, [], -1, v5Regions(8544, 18648)],
    ['rafs-v5/blake3-lz4', RAFS.V5_2020_LZ4, [RAFS.BLOB_LZ4], -1, v5Regions(8480, 18584)],
    ['rafs-v5/blake3-lz4-noblob', RAFS.V5_2020_LZ4, [], -1, v5Regions(8480, 18584)],
    ['rafs-v5/garbage-inodes', RAFS.V5_GARBAGE, [], -1, undefined],
    ['rafs-v6/2.2-zstd', RAFS.V6, [RAFS.V6_BLOB], -1, v6Regions],
    ['rafs-v6/2.2-noblob', RAFS.V6, [], -1, v6Regions],
    ['rafs-v6/2.2-blobdata', RAFS.V6, [RAFS.V6_DEV], -1, v6Regions],
    ['rafs-v6/toc-blob', RAFS.TOC_BLOB, [], -1, tocRegions],
    ['rafs-v6/toc-boot-dev', RAFS.TOC_BOOT, [RAFS.TOC_DEV], -1, undefined],
    ['rafs-v6/toc-boot-noblob', RAFS.TOC_BOOT, [], -1, undefined],
    // the blobs mutated, the bootstrap pristine
    ['rafs-blob/v5-lz4-blob', RAFS.V5_2020_LZ4, [RAFS.BLOB_LZ4], 0, undefined],
    ['rafs-blob/v6-zstd-blob', RAFS.V6, [RAFS.V6_BLOB], 0, undefined],
    ['rafs-blob/v6-blobdata', RAFS.V6, [RAFS.V6_DEV], 0, undefined],
    ['rafs-blob/toc-dev', RAFS.TOC_BOOT, [RAFS.TOC_DEV], 0, undefined],
  ];
  for (const [name, img, extras, mutate, regions] of rafs) {
    if (!existsSync(nydusFixture(img)) || extras.some((e) => !existsSync(nydusFixture(e)))) continue;
    add({
      name, image: file(nydusFixture(img)), extras: extras.map((e) => file(nydusFixture(e))), mutate,
      variants: mutate >= 0 ? counts.rafsBlob : counts.rafs, ...(regions ? { regions } : {}), uniformWeight: 1,
    });
  }
  return targets;
}

// ---- running ----------------------------------------------------------------------------------

export type Verdict = 'escape' | 'crash' | 'hang' | 'blowup';

export interface Finding {
  label: string;
  verdict: Verdict;
  /** the error, what changed, or the memory figures */
  detail: string;
  /** what the mutation was */
  mutation?: string;
  /** which step: open, extract, export, check, sandbox */
  step?: string;
}

/** One line from a child (see hostile-child.ts). */
export interface ChildResult {
  ev: 'result';
  label: string;
  mutation: string;
  /** the step reached and how each ended: ok, typed error class name, skipped (not run) */
  steps: Record<string, string>;
  /** typed errors' messages by step */
  messages: Record<string, string>;
  /** time of each step (setup: writing the input and the sandbox) */
  stepMs: Record<string, number>;
  crash?: { step: string; error: string };
  escape?: string[];
  rssBefore: number;
  rssAfter: number;
  inputBytes: number;
  ms: number;
  xattrs: boolean;
  extracted?: { entries: number; skipped: number; warnings: number };
}

export interface SweepReport {
  variants: number;
  /** variants whose open succeeded (the rest were refused with a typed error) */
  opened: number;
  /** variants where extract ran to the end */
  extracted: number;
  /** typed errors by step and class */
  typed: Record<string, number>;
  findings: Finding[];
  byTarget: Record<string, { variants: number; opened: number; extracted: number; findings: number }>;
  maxRssGrowth: { label: string; bytes: number };
  slowest: { label: string; ms: number }[];
  ms: number;
  childStarts: number;
}

export interface SweepOptions {
  /** children at once (default 2) */
  children?: number;
  /** per-variant hang limit (default 20 s) */
  timeoutMs?: number;
  /** variants per batch sent to a child (default 25) */
  batch?: number;
  /** V8 old-space limit of each child in MiB (default 384) */
  maxOldSpaceMb?: number;
  /** labels to run (default every variant of every target) */
  only?: string[];
  /** test-only: a fake extractor in the children (see hostile-child.ts) */
  fake?: 'escape-canary' | 'escape-beside' | 'escape-workdir' | 'crash' | 'hang' | 'blowup' | 'oom';
  /** memory bound: base + perInputByte × input bytes (default 64 MiB + 32 × input) */
  memoryBase?: number;
  memoryPerInputByte?: number;
  /** called with each finding as it happens */
  onFinding?: (f: Finding) => void;
  /** called with every variant's result line */
  onResult?: (r: ChildResult) => void;
}

const CHILD = join(import.meta.dirname, 'hostile-child.ts');
export const LINE_MARK = '@@hostile ';

interface Job {
  t: number;
  k: number;
  label: string;
}

/** Run the sweep over `targets` (jobs interleaved across targets, so every child sees every kind). */
export async function runHostileSweep(targets: Target[], opts: SweepOptions = {}): Promise<SweepReport> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const batchSize = opts.batch ?? 25;
  const memBase = opts.memoryBase ?? 64 << 20;
  const memPer = opts.memoryPerInputByte ?? 32;
  const only = opts.only ? new Set(opts.only) : null;
  const jobs: Job[] = [];
  const maxV = Math.max(0, ...targets.map((t) => t.variants));
  for (let k = 0; k < maxV; k++) {
    targets.forEach((t, i) => {
      const label = `${t.name}#${k}`;
      if (k < t.variants && (!only || only.has(label))) jobs.push({ t: i, k, label });
    });
  }
  if (only) {
    // labels beyond a target's default count can be rerun too
    for (const l of only) {
      const m = /^(.*)#(\d+)$/.exec(l);
      const i = m ? targets.findIndex((t) => t.name === m[1]) : -1;
      if (i >= 0 && !jobs.some((j) => j.label === l)) jobs.push({ t: i, k: Number(m![2]), label: l });
    }
  }
  const work = tempDir('ls-hostile-run-');
  const manifest = join(work, 'targets.json');
  writeFileSync(manifest, JSON.stringify(targets));
  const report: SweepReport = { variants: 0, opened: 0, extracted: 0, typed: {}, findings: [], byTarget: {}, maxRssGrowth: { label: '', bytes: 0 }, slowest: [], ms: 0, childStarts: 0 };
  for (const t of targets) report.byTarget[t.name] = { variants: 0, opened: 0, extracted: 0, findings: 0 };
  const finding = (f: Finding) => {
    report.findings.push(f);
    const name = f.label.replace(/#\d+$/, '');
    if (report.byTarget[name]) report.byTarget[name]!.findings++;
    opts.onFinding?.(f);
  };
  const count = (label: string) => {
    report.variants++;
    const name = label.replace(/#\d+$/, '');
    if (report.byTarget[name]) report.byTarget[name]!.variants++;
  };

  let next = 0;
  const takeBatch = (): Job[] => {
    const b = jobs.slice(next, next + batchSize);
    next += b.length;
    return b;
  };

  const runChild = async (slot: number): Promise<void> => {
    let pending: Job[] = [];
    while (next < jobs.length || pending.length) {
      report.childStarts++;
      const root = join(work, `child${slot}-${report.childStarts}`);
      mkdirSync(root, { recursive: true });
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.NODE_TEST_CONTEXT;
      delete env.NODE_OPTIONS;
      if (opts.fake) env.HOSTILE_FAKE = opts.fake;
      const child = spawn(process.execPath, ['--import', 'tsx', `--max-old-space-size=${opts.maxOldSpaceMb ?? 384}`, CHILD, manifest, root], { stdio: ['pipe', 'pipe', 'pipe'], env });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
      let buf = '';
      let current: Job | null = null;
      let since = Date.now();
      let idleWake: (() => void) | null = null;
      let dead = false;
      let hung = false;
      let recycled = false;
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith(LINE_MARK)) continue;
          const m = JSON.parse(line.slice(LINE_MARK.length)) as { ev: string; label?: string };
          if (m.ev === 'start') {
            current = pending.find((j) => j.label === m.label) ?? null;
            since = Date.now();
          } else if (m.ev === 'result') {
            const r = m as unknown as ChildResult;
            pending = pending.filter((j) => j.label !== r.label);
            current = null;
            since = Date.now();
            record(r);
          } else if (m.ev === 'idle') {
            idleWake?.();
          } else if (m.ev === 'recycle') {
            recycled = true;
          }
        }
      });
      const record = (r: ChildResult) => {
        count(r.label);
        opts.onResult?.(r);
        const name = r.label.replace(/#\d+$/, '');
        const bt = report.byTarget[name];
        if (r.steps.open === 'ok') {
          report.opened++;
          if (bt) bt.opened++;
        }
        if (r.steps.extract === 'ok') {
          report.extracted++;
          if (bt) bt.extracted++;
        }
        for (const [step, how] of Object.entries(r.steps)) if (how !== 'ok' && how !== 'skipped' && how !== 'crash') report.typed[`${step}:${how}`] = (report.typed[`${step}:${how}`] ?? 0) + 1;
        if (r.crash) finding({ label: r.label, verdict: 'crash', step: r.crash.step, detail: r.crash.error, mutation: r.mutation });
        if (r.escape?.length) finding({ label: r.label, verdict: 'escape', step: 'sandbox', detail: r.escape.join('; '), mutation: r.mutation });
        const growth = r.rssAfter - r.rssBefore;
        if (growth > report.maxRssGrowth.bytes) report.maxRssGrowth = { label: r.label, bytes: growth };
        const bound = memBase + memPer * r.inputBytes;
        if (growth > bound) finding({ label: r.label, verdict: 'blowup', detail: `maxRSS grew by ${(growth / 1048576).toFixed(1)} MiB (bound ${(bound / 1048576).toFixed(1)} MiB for ${r.inputBytes} input bytes)`, mutation: r.mutation });
        report.slowest.push({ label: r.label, ms: r.ms });
        if (report.slowest.length > 40) report.slowest = report.slowest.sort((a, b) => b.ms - a.ms).slice(0, 10);
      };
      const timer = setInterval(() => {
        if (!dead && pending.length && Date.now() - since > timeoutMs) {
          hung = true;
          child.kill('SIGKILL');
        }
      }, 200);
      void exited.then(() => {
        dead = true;
        idleWake?.();
      });
      try {
        for (;;) {
          if (dead) break;
          if (!pending.length) pending = takeBatch();
          if (!pending.length) break;
          const idle = new Promise<void>((res) => { idleWake = res; });
          since = Date.now();
          child.stdin.write(JSON.stringify({ jobs: pending.map((j) => [j.t, j.k]) }) + '\n');
          await idle;
          idleWake = null;
        }
        if (!dead) child.stdin.end();
        const { code, signal } = await exited;
        if (recycled) {
          // the child left on purpose (its maxRSS rose a lot): the rest of its batch goes to the next one
        } else if (pending.length) {
          // the child died in the middle of a batch: blame the variant it was running
          const victim: Job = current ?? pending[0]!;
          pending = pending.filter((j) => j !== victim);
          count(victim.label);
          const tail = stderr.trim().split('\n').slice(-6).join('\n');
          if (hung) finding({ label: victim.label, verdict: 'hang', detail: `no result after ${timeoutMs} ms (child killed)` });
          else if (/heap out of memory|Allocation failed|invalid array length|ERR_MEMORY|Reached heap limit/i.test(stderr)) finding({ label: victim.label, verdict: 'blowup', detail: `child ran out of memory (${code ?? signal}): ${tail}` });
          else finding({ label: victim.label, verdict: 'crash', step: 'process', detail: `child exited (${code ?? signal}) during the variant: ${tail}` });
        } else if (code !== 0 && !hung) {
          finding({ label: `child${slot}`, verdict: 'crash', step: 'process', detail: `child exited (${code ?? signal}) between variants: ${stderr.trim().split('\n').slice(-6).join('\n')}` });
        }
      } finally {
        clearInterval(timer);
        if (!dead) child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.children ?? 2) }, (_, i) => runChild(i)));
  report.slowest = report.slowest.sort((a, b) => b.ms - a.ms).slice(0, 10);
  report.ms = Date.now() - t0;
  try {
    execFileSync('rm', ['-rf', work]);
  } catch { /* best effort */ }
  return report;
}

/** Labels of the findings, grouped by verdict, for messages. */
export function summarizeFindings(findings: Finding[], max = 200): string {
  const lines: string[] = [];
  for (const v of ['escape', 'crash', 'hang', 'blowup'] as const) {
    const fs = findings.filter((f) => f.verdict === v);
    if (!fs.length) continue;
    lines.push(`${v}: ${fs.length}`);
    for (const f of fs.slice(0, max)) lines.push(`  ${f.label} [${f.step ?? ''}] ${f.mutation ? `(${f.mutation}) ` : ''}${f.detail.split('\n').slice(0, 3).join(' | ').slice(0, 600)}`);
  }
  return lines.join('\n');
}

/** Hash of a report's findings (for comparing two runs). */
export function findingsDigest(findings: Finding[]): string {
  return createHash('sha256').update(findings.map((f) => `${f.label} ${f.verdict}`).sort().join('\n')).digest('hex').slice(0, 16);
}
