import type { Attr, FileType } from '../lib/fs/types.ts';
import { major, minor } from '../lib/fs/types.ts';

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
    if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
    if (typeof x === 'bigint') return x.toString();
    return x;
  }, 2);
}

/** A command line the CLI cannot run (exit status 1, with the command's usage). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
