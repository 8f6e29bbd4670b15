// The build options the page offers, and the equivalent `layerscope build` command line.
import { shellQuote } from '../inspect/command.ts';


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
  compressor: 'zstd' | 'none' | 'lz4_block' | 'gzip';
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
    rafs: { version: 6, compressor: 'zstd', digester: 'blake3', chunkSize: 1 << 20, alignedChunk: false, prefetch: [] },
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

