// Pure helpers of the Build view (no DOM): what a source tree holds, what a layer whites out, the
// equivalent command line, and a ByteSource wrapper that counts, yields and stops a build.
import { inodesOf, type SourceInode, type SourceTree } from '../../lib/fs/tree.ts';
import type { ByteSource } from '../../lib/io/source.ts';

export interface TreeSummary {
  files: number;
  dirs: number;
  symlinks: number;
  /** devices, fifos, sockets */
  others: number;
  /** content bytes of regular files (each hardlinked inode once) */
  bytes: number;
  /** extra names of an inode (dirents - inodes among non-directories) */
  hardlinks: number;
  /** inodes carrying xattrs */
  withXattrs: number;
  /** regular files whose bytes are not available (a composefs dump without inline content) */
  noContent: number;
  /** distinct modes / owners seen: a browser folder has 2 modes and one owner */
  owners: number;
  largest: number;
}

export function summarizeTree(tree: SourceTree): TreeSummary {
  const s: TreeSummary = { files: 0, dirs: 0, symlinks: 0, others: 0, bytes: 0, hardlinks: 0, withXattrs: 0, noContent: 0, owners: 0, largest: 0 };
  const seen = new Set<SourceInode>();
  const owners = new Set<string>();
  const stack: SourceInode[] = [tree.root];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) {
      s.hardlinks++;
      continue;
    }
    seen.add(n);
    owners.add(`${n.uid}:${n.gid}`);
    if (n.xattrs.length) s.withXattrs++;
    if (n.type === 'dir') {
      s.dirs++;
      for (const c of n.children ?? []) stack.push(c.inode);
    } else if (n.type === 'reg') {
      s.files++;
      s.bytes += n.size;
      if (n.size > s.largest) s.largest = n.size;
      if (n.size > 0 && !n.content) s.noContent++;
    } else if (n.type === 'symlink') s.symlinks++;
    else s.others++;
  }
  s.dirs--; // the root is not counted as a directory of the tree
  s.owners = owners.size;
  return s;
}

const dec = new TextDecoder();
const WH = '.wh.';
const OPQ = '.wh..wh..opq';
const OVERLAY_OPAQUE = ['trusted.overlay.opaque', 'user.overlay.opaque'];

export interface LayerEffects {
  /** paths a `.wh.NAME` entry or an overlayfs whiteout (char 0:0) removes from the layers below */
  whiteouts: string[];
  /** directories whose lower contents are hidden (`.wh..wh..opq` or an opaque xattr = "y") */
  opaque: string[];
}

/** OCI and overlayfs whiteouts of a layer, as absolute paths (at most `limit` of each). */
export function layerEffects(tree: SourceTree, limit = 200): LayerEffects {
  const out: LayerEffects = { whiteouts: [], opaque: [] };
  const stack: [SourceInode, string][] = [[tree.root, '']];
  while (stack.length) {
    const [dir, path] = stack.pop()!;
    const here = path || '/';
    if (dir.xattrs.some((x) => OVERLAY_OPAQUE.includes(dec.decode(x.name)) && dec.decode(x.value) === 'y') && out.opaque.length < limit) out.opaque.push(here);
    for (const c of dir.children ?? []) {
      const name = dec.decode(c.name);
      if (name === OPQ) {
        if (out.opaque.length < limit && !out.opaque.includes(here)) out.opaque.push(here);
      } else if (name.startsWith(WH)) {
        if (out.whiteouts.length < limit) out.whiteouts.push(`${path}/${name.slice(WH.length)}`);
      } else if (c.inode.type === 'chr' && c.inode.rdev === 0) {
        if (out.whiteouts.length < limit) out.whiteouts.push(`${path}/${name}`);
      } else if (c.inode.type === 'dir') stack.push([c.inode, `${path}/${name}`]);
    }
  }
  out.whiteouts.sort();
  out.opaque.sort();
  return out;
}

// ---------------------------------------------------------------------------------------------
// The build options the page offers, and the equivalent command line.

export type BuildFormat = 'erofs' | 'composefs' | 'rafs';

export interface ErofsChoice {
  /** null: plain (FLAT) files; else chunk-based with this chunk size */
  chunkSize: number | null;
  dedupe: boolean;
  inlineData: boolean;
  /** empty: random */
  uuid: string;
  /** seconds since the epoch; null: now */
  buildTime: number | null;
}

export interface ComposefsChoice {
  minVersion: number;
  maxVersion: number;
}

export interface RafsChoice {
  version: 5 | 6;
  compressor: 'none' | 'lz4_block' | 'gzip';
  digester: 'blake3' | 'sha256';
  chunkSize: number;
  alignedChunk: boolean;
  /** absolute paths, one per line in the form */
  prefetch: string[];
}

export interface BuildChoice {
  format: BuildFormat;
  erofs: ErofsChoice;
  composefs: ComposefsChoice;
  rafs: RafsChoice;
}

export function defaultChoice(): BuildChoice {
  return {
    format: 'erofs',
    erofs: { chunkSize: null, dedupe: true, inlineData: true, uuid: '', buildTime: null },
    composefs: { minVersion: 0, maxVersion: 1 },
    rafs: { version: 6, compressor: 'lz4_block', digester: 'blake3', chunkSize: 1 << 20, alignedChunk: false, prefetch: [] },
  };
}

export function shellQuote(s: string): string {
  if (s !== '' && /^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** "4K", "1M": the size syntax of the command line */
export function sizeArg(n: number): string {
  if (n % (1 << 20) === 0) return `${n / (1 << 20)}M`;
  if (n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

/** Output file name for a source label and format. */
export function outputName(label: string, format: BuildFormat, version?: number): string {
  const base = label.replace(/\.(tar\.gz|tgz|tar|dump|erofs|cfs|img|boot|bootstrap)$/i, '').replace(/[^\w.-]+/g, '_') || 'image';
  if (format === 'erofs') return `${base}.erofs`;
  if (format === 'composefs') return `${base}.cfs`;
  return `${base}.rafs${version === 5 ? '5' : ''}.boot`;
}

/**
 * `layerscope build` (src/cli/main.ts) as it would be typed for the same input and options.
 * `sources` are the layers, lowest first; the CLI builds one source, so for several layers the
 * command names the top one and `cliGaps` says what the page did beyond it.
 */
export function buildCommand(c: BuildChoice, sources: string[], out: string, objects: 'none' | 'dir' | 'zip' = 'none'): string {
  const a: string[] = ['layerscope', 'build', '--format', c.format === 'rafs' ? `rafs-v${c.rafs.version}` : c.format];
  if (c.format === 'erofs') {
    const e = c.erofs;
    if (e.chunkSize !== null) a.push('--chunksize', String(e.chunkSize));
    if (!e.inlineData) a.push('--no-inline');
    if (e.uuid.trim()) a.push('--uuid', e.uuid.trim());
    if (e.buildTime !== null) a.push('-T', String(e.buildTime));
  } else if (c.format === 'composefs') {
    const v = c.composefs;
    if (v.minVersion !== 0) a.push('--min-version', String(v.minVersion));
    if (v.maxVersion !== 1) a.push('--max-version', String(v.maxVersion));
    if (objects !== 'none') a.push('--digest-store', 'objects');
    a.push('--print-digest');
  } else {
    const r = c.rafs;
    a.push('--blob-dir', 'blobs', '--compressor', r.compressor, '--digester', r.digester, '--chunk-size', String(r.chunkSize));
    if (r.alignedChunk) a.push('--aligned-chunk');
    if (r.prefetch.length) a.push('--prefetch-list', 'prefetch.txt');
    if (sources.length > 1) a.push('--parent', 'LOWER.boot');
  }
  a.push(sources[sources.length - 1] ?? 'SOURCE', out);
  return a.map(shellQuote).join(' ');
}

/** What the page does that the command line above does not express. */
export function cliGaps(c: BuildChoice, layers: number, objects: 'none' | 'dir' | 'zip'): string[] {
  const g: string[] = [];
  if (layers > 1 && c.format === 'rafs') g.push(`the CLI builds one layer per run: run it for each of the ${layers} layers, lowest first, with --parent the previous bootstrap`);
  else if (layers > 1) g.push(`the CLI builds one source: the page applied ${layers} layers (whiteouts included) first`);
  if (c.format === 'rafs' && c.rafs.prefetch.length) g.push(`prefetch.txt: the ${c.rafs.prefetch.length} prefetch path${c.rafs.prefetch.length === 1 ? '' : 's'}, one per line`);
  if (c.format === 'erofs' && c.erofs.chunkSize !== null && !c.erofs.dedupe) g.push('the CLI always dedupes chunks');
  if (c.format === 'erofs' && c.erofs.uuid.trim() === '') g.push('UUID: random in both');
  if (c.format === 'composefs' && objects === 'zip') g.push('the CLI writes the object store as a folder; the page zips the same xx/… tree');
  return g;
}

// ---------------------------------------------------------------------------------------------
// Progress and cancel for builders that take neither: every content read goes through this.

export interface ReadMeter {
  /** content bytes read so far (all passes) */
  bytes: number;
  /** regular files read to their end at least once */
  files: number;
  signal: AbortSignal;
  /** called after reads, at most every `every` ms */
  tick(): void | Promise<void>;
}

const perInode = new WeakMap<ByteSource, number>();

/**
 * `inner` counted into `meter`. Every read first checks the abort signal, and every ~50 ms gives
 * the worker's event loop a turn (a setTimeout), so a cancel message is heard even when all reads
 * are served from memory (they then resolve as microtasks only).
 */
export class MeteredSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(readonly inner: ByteSource, private readonly meter: ReadMeter & { lastYield: number }) {
    this.size = inner.size;
    this.name = inner.name;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.meter.signal.throwIfAborted();
    const b = await this.inner.read(offset, length);
    this.meter.signal.throwIfAborted();
    this.meter.bytes += length;
    const done = (perInode.get(this) ?? 0) + length;
    perInode.set(this, done);
    if (done >= this.size && done - length < this.size) this.meter.files++;
    const now = performance.now();
    if (now - this.meter.lastYield > 50) {
      this.meter.lastYield = now;
      await this.meter.tick();
      await new Promise((r) => setTimeout(r, 0));
      this.meter.signal.throwIfAborted();
    }
    return b;
  }
}

export function newMeter(signal: AbortSignal, tick: () => void | Promise<void>): ReadMeter & { lastYield: number } {
  return { bytes: 0, files: 0, signal, tick, lastYield: performance.now() };
}

/**
 * Put a MeteredSource on every regular file of `tree` (each inode once, hardlinks share it).
 * `originals` keeps the unwrapped source per inode, so a second build wraps the original again.
 */
export function meterTree(tree: SourceTree, meter: ReadMeter & { lastYield: number }, originals: WeakMap<SourceInode, ByteSource>): void {
  for (const n of inodesOf(tree.root)) {
    if (n.type !== 'reg' || !n.content) continue;
    let orig = originals.get(n);
    if (!orig) {
      orig = n.content;
      originals.set(n, orig);
    }
    n.content = new MeteredSource(orig, meter);
  }
}
