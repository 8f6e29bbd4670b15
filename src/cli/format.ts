import type { Attr, FileType } from '../lib/fs/types.ts';
import { major, minor } from '../lib/fs/types.ts';
import type { Bucket } from '../lib/inspect/histogram.ts';
import { hex } from '../lib/bytes.ts';

const TYPE_CHAR: Record<FileType, string> = { reg: '-', dir: 'd', symlink: 'l', chr: 'c', blk: 'b', fifo: 'p', sock: 's' };

export function modeString(a: Attr): string {
  const m = a.mode;
  const rwx = (shift: number, special: number, ch: string): string => {
    const r = m & (4 << shift) ? 'r' : '-';
    const w = m & (2 << shift) ? 'w' : '-';
    const x = m & (1 << shift);
    const s = m & special;
    return r + w + (s ? (x ? ch : ch.toUpperCase()) : x ? 'x' : '-');
  };
  return TYPE_CHAR[a.type] + rwx(6, 0o4000, 's') + rwx(3, 0o2000, 's') + rwx(0, 0o1000, 't');
}

export function isoTime(sec: number, nsec: number): string {
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return `${sec}.${String(nsec).padStart(9, '0')}`;
  return d.toISOString().replace('.000Z', '') + '.' + String(nsec).padStart(9, '0') + 'Z';
}

export function sizeOrDev(a: Attr): string {
  return a.type === 'chr' || a.type === 'blk' ? `${major(a.rdev)}, ${minor(a.rdev)}` : String(a.size);
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** JSON.stringify that renders Uint8Array as hex and survives bigint. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x instanceof Uint8Array) return hex(x);
    if (typeof x === 'bigint') return x.toString();
    return x;
  }, 2);
}

/** A command line the CLI cannot run (exit status 1, with the command's usage). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One line to stdout. */
export const out = (s: string): void => { process.stdout.write(s + '\n'); };

/** Text to stdout, resolved once the pipe takes more: a long listing to a slow reader is not buffered whole. */
export function writeOut(s: string): Promise<void> | void {
  if (!process.stdout.write(s)) return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

/**
 * A JSON array written to stdout element by element, byte for byte what out(toJson(array)) writes:
 * memory holds one element, not every element and the text of all of them.
 */
export class JsonArrayOut {
  private count = 0;

  async push(v: unknown): Promise<void> {
    await writeOut((this.count++ === 0 ? '[\n  ' : ',\n  ') + toJson(v).replaceAll('\n', '\n  '));
  }

  async end(): Promise<void> {
    await writeOut(this.count === 0 ? '[]\n' : '\n]\n');
  }
}

/** A result as indented `key: value` lines; arrays of histogram buckets as bars. */
export function printTree(v: unknown, indent = ''): void {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) {
    out(indent + fmtScalar(v));
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    if (Array.isArray(x) && isHistogram(x)) {
      out(`${indent}${k}:`);
      printHistogram(x, indent + '  ');
    } else if (Array.isArray(x)) {
      out(`${indent}${k}: [${x.length}]`);
      x.slice(0, 1000).forEach((e, i) => {
        if (e !== null && typeof e === 'object' && !(e instanceof Uint8Array)) {
          out(`${indent}  [${i}]`);
          printTree(e, indent + '    ');
        } else out(`${indent}  ${fmtScalar(e)}`);
      });
      if (x.length > 1000) out(`${indent}  … ${x.length - 1000} more (use --json)`);
    } else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) {
      out(`${indent}${k}:`);
      printTree(x, indent + '  ');
    } else out(`${indent}${k}: ${fmtScalar(x)}`);
  }
}

function isHistogram(x: unknown[]): x is Bucket[] {
  return x.length > 0 && x.every((b) => b !== null && typeof b === 'object' && 'count' in b && 'lo' in b && 'hi' in b);
}

/** Non-empty buckets as bars: "4 KiB – 8 KiB  ########  123  (600 KiB)". */
function printHistogram(buckets: Bucket[], indent: string): void {
  const rows = buckets.filter((b) => b.count > 0);
  const max = Math.max(1, ...rows.map((b) => b.count));
  for (const b of rows) {
    const label = (b.lo === 0 && b.hi === 1 ? '0 B' : `${humanBytes(b.lo)} – ${humanBytes(b.hi)}`).padEnd(22);
    const bar = '#'.repeat(Math.max(1, Math.round((b.count / max) * 40)));
    out(`${indent}${label} ${bar.padEnd(40)} ${b.count}  (${humanBytes(b.bytes)})`);
  }
}

function fmtScalar(x: unknown): string {
  if (x instanceof Uint8Array) return hex(x);
  return String(x);
}
