// The build options the page offers, and the equivalent `layerscope build` command line.
import { shellQuote } from '../inspect/command.ts';


export type BuildFormat = 'erofs' | 'composefs' | 'rafs';

export type ErofsCompressionChoice = 'none' | 'lz4' | 'lz4hc' | 'deflate' | 'zstd';

export interface ErofsChoice {
  /** null: plain (FLAT) files; else chunk-based with this chunk size */
  chunkSize: number | null;
  dedupe: boolean;
  inlineData: boolean;
  /** empty: random */
  uuid: string;
  /** seconds since the epoch; null: now */
  buildTime: number | null;
  /** mkfs -b */
  blockSize: number;
  /** mkfs -z; 'none' stores files uncompressed (then chunkSize may apply) */
  compression: ErofsCompressionChoice;
  /** null: the algorithm's default (lz4hc 9, deflate 6, zstd 3; lz4 has none) */
  level: number | null;
  /** mkfs -C in bytes; null: one block */
  pclusterSize: number | null;
  /** mkfs -E ztailpacking, fragments, dedupe (of compressed pclusters) */
  ztailpacking: boolean;
  fragments: boolean;
  zdedupe: boolean;
}

/** level range and default of each algorithm with levels (as mkfs.erofs takes them) */
export const COMPRESSION_LEVELS: Record<ErofsCompressionChoice, { min: number; max: number; dflt: number } | null> = {
  none: null, lz4: null, lz4hc: { min: 1, max: 12, dflt: 9 }, deflate: { min: 1, max: 9, dflt: 6 }, zstd: { min: 1, max: 9, dflt: 3 },
};
export const BLOCK_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
export const PCLUSTER_SIZES = [4096, 8192, 16384, 32768, 65536, 131072, 262144, 1 << 20];

export interface ComposefsChoice {
  minVersion: number;
  maxVersion: number;
}

export interface RafsChoice {
  version: 5 | 6;
  compressor: 'zstd' | 'none' | 'lz4_block' | 'gzip';
  digester: 'blake3' | 'sha256';
  chunkSize: number;
  alignedChunk: boolean;
  /** absolute paths, one per line in the form */
  prefetch: string[];
  /** nydus-image --batch-size (v6): 0 = off, else a power of two up to the chunk size */
  batchSize: number;
  /** nydus-image --encrypt (v6): AES-128-XTS, key and IV kept in the bootstrap */
  encrypt: boolean;
  /** nydus-image --type tar-tarfs (v6): the one source, an uncompressed tar, is the data blob itself */
  tarfs: boolean;
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
    erofs: {
      chunkSize: null, dedupe: true, inlineData: true, uuid: '', buildTime: null,
      blockSize: 4096, compression: 'none', level: null, pclusterSize: null, ztailpacking: false, fragments: false, zdedupe: false,
    },
    composefs: { minVersion: 0, maxVersion: 1 },
    rafs: { version: 6, compressor: 'zstd', digester: 'blake3', chunkSize: 1 << 20, alignedChunk: false, prefetch: [], batchSize: 0, encrypt: false, tarfs: false },
  };
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
    if (e.blockSize !== 4096) a.push('-b', String(e.blockSize));
    if (e.compression !== 'none') {
      a.push('-z', zArg(e));
      if (e.pclusterSize !== null && e.pclusterSize !== e.blockSize) a.push('-C', String(e.pclusterSize));
      const ext = extendedArgs(e);
      if (ext) a.push('-E', ext);
    } else if (e.chunkSize !== null) a.push('--chunksize', String(e.chunkSize));
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
    // tarfs: no compressor or digester to choose (nydus-image forces none and sha256)
    if (r.version === 6 && r.tarfs) a.push('--type', 'tar-tarfs', '--blob-dir', 'blobs', '--chunk-size', String(r.chunkSize));
    else a.push('--blob-dir', 'blobs', '--compressor', r.compressor, '--digester', r.digester, '--chunk-size', String(r.chunkSize));
    if (r.version === 6 && !r.tarfs && r.batchSize) a.push('--batch-size', String(r.batchSize));
    if (r.version === 6 && !r.tarfs && r.encrypt) a.push('--encrypt');
    if (r.alignedChunk && !(r.version === 6 && r.tarfs)) a.push('--aligned-chunk');
    if (r.prefetch.length) a.push('--prefetch-list', 'prefetch.txt');
    if (sources.length > 1) a.push('--parent', 'LOWER.boot');
  }
  a.push(sources[sources.length - 1] ?? 'SOURCE', out);
  return a.map(shellQuote).join(' ');
}

function zArg(e: ErofsChoice): string {
  return e.level !== null && COMPRESSION_LEVELS[e.compression] ? `${e.compression},${e.level}` : e.compression;
}

function extendedArgs(e: ErofsChoice): string {
  return [e.ztailpacking && 'ztailpacking', e.fragments && 'fragments', e.zdedupe && 'dedupe'].filter(Boolean).join(',');
}

/**
 * The `mkfs.erofs` (erofs-utils) command line that makes the same kind of EROFS image from the
 * same folder: -z/-C/-E/-b/-T/-U as mkfs spells them, --chunksize and -Enoinline_data for the
 * uncompressed layouts. Null for composefs and RAFS (their tools are mkcomposefs and nydus-image).
 */
export function mkfsCommand(c: BuildChoice, source: string, out: string): string | null {
  if (c.format !== 'erofs') return null;
  const e = c.erofs;
  const a: string[] = ['mkfs.erofs'];
  if (e.blockSize !== 4096) a.push(`-b${e.blockSize}`);
  const ext: string[] = [];
  if (e.compression !== 'none') {
    a.push(`-z${zArg(e)}`);
    if (e.pclusterSize !== null && e.pclusterSize !== e.blockSize) a.push(`-C${e.pclusterSize}`);
    const x = extendedArgs(e);
    if (x) ext.push(x);
  } else if (e.chunkSize !== null) a.push(`--chunksize=${e.chunkSize}`);
  if (!e.inlineData) ext.push('noinline_data');
  if (ext.length) a.push(`-E${ext.join(',')}`);
  if (e.buildTime !== null) a.push(`-T${e.buildTime}`);
  if (e.uuid.trim()) a.push(`-U${e.uuid.trim()}`);
  a.push(out, source);
  return a.map(shellQuote).join(' ');
}

/** What the page does that the command line above does not express. */
export function cliGaps(c: BuildChoice, layers: number, objects: 'none' | 'dir' | 'zip'): string[] {
  const g: string[] = [];
  if (layers > 1 && c.format === 'rafs') g.push(`the CLI builds one layer per run: run it for each of the ${layers} layers, lowest first, with --parent the previous bootstrap`);
  else if (layers > 1) g.push(`the CLI builds one source: the page applied ${layers} layers (whiteouts included) first`);
  if (c.format === 'rafs' && c.rafs.prefetch.length) g.push(`prefetch.txt: the ${c.rafs.prefetch.length} prefetch path${c.rafs.prefetch.length === 1 ? '' : 's'}, one per line`);
  if (c.format === 'erofs' && c.erofs.compression === 'none' && c.erofs.chunkSize !== null && !c.erofs.dedupe) g.push('the CLI always dedupes chunks');
  if (c.format === 'erofs' && c.erofs.uuid.trim() === '') g.push('UUID: random in both');
  if (c.format === 'composefs' && objects === 'zip') g.push('the CLI writes the object store as a folder; the page zips the same xx/… tree');
  return g;
}

