// Display helpers for the page: sizes, modes, times, errors, text detection and hex dumps.
import type { Attr, FileType } from '../lib/fs/types.ts';
import type { WireError } from '../../workers/inspector.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; bytes below 1 KiB stay exact */
export function humanSize(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${n} B`;
  const digits = Number.isInteger(v) || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[i]}`;
}

/** one formatter for every call: toLocaleString('en-US') builds a new ICU formatter each time (about 10 ms the first time) */
const GROUPED = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });

/** 12345678 → "12,345,678" */
export function groupDigits(n: number): string {
  return GROUPED.format(n);
}

const TYPE_CHAR: Record<FileType, string> = { reg: '-', dir: 'd', symlink: 'l', chr: 'c', blk: 'b', fifo: 'p', sock: 's' };

/** "drwxr-xr-x", with s/S/t/T for setuid, setgid and sticky */
export function modeString(type: FileType, mode: number): string {
  const trio = (shift: number, special: number, ch: string): string => {
    const x = mode & (1 << shift);
    const s = mode & special;
    return (mode & (4 << shift) ? 'r' : '-') + (mode & (2 << shift) ? 'w' : '-') + (s ? (x ? ch : ch.toUpperCase()) : x ? 'x' : '-');
  };
  return TYPE_CHAR[type] + trio(6, 0o4000, 's') + trio(3, 0o2000, 's') + trio(0, 0o1000, 't');
}

export function octalMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** "2023-11-14 22:13:20" in UTC (images carry UTC seconds; the local zone would only confuse) */
export function shortTime(sec: number): string {
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return String(sec);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** full precision: "2023-11-14 22:13:20.000000000 UTC (1700000000)" */
export function fullTime(sec: number, nsec: number): string {
  return `${shortTime(sec)}.${pad(nsec, 9)} UTC (${sec})`;
}

export const TYPE_LABEL: Record<FileType, string> = {
  reg: 'regular file', dir: 'directory', symlink: 'symbolic link', chr: 'character device',
  blk: 'block device', fifo: 'FIFO', sock: 'socket',
};

export function sizeCell(a: Attr): string {
  if (a.type === 'chr' || a.type === 'blk') return `${(a.rdev >>> 8) & 0xfff}, ${(a.rdev & 0xff) | ((a.rdev >>> 12) & 0xfff00)}`;
  return humanSize(a.size);
}

/** What a WireError (or anything thrown) says, as one line for people. */
export function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e) {
    const w = e as WireError;
    return w.message || w.name;
  }
  return String(e);
}

export function errorName(e: unknown): string {
  if (e && typeof e === 'object' && 'name' in e && typeof (e as WireError).name === 'string') return (e as WireError).name;
  return 'Error';
}

export function asWireError(e: unknown): WireError {
  if (e && typeof e === 'object' && 'message' in e) return e as WireError;
  return { name: 'Error', message: String(e) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Number of trailing bytes that start a UTF-8 sequence cut off by the end of `b` (0..3), so a
 * partial read of a text file is not mistaken for binary because it ends inside a character.
 */
export function incompleteTail(b: Uint8Array): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k]!;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

/**
 * Text when the bytes are valid UTF-8 without NUL and with almost no other control characters
 * (tab, newline, CR, form feed, backspace and escape are fine). `complete` is false when the bytes
 * are a prefix of the file and may end inside a character.
 */
export function looksLikeText(b: Uint8Array, complete: boolean): boolean {
  const body = complete ? b : b.subarray(0, b.length - incompleteTail(b));
  try {
    utf8.decode(body);
  } catch {
    return false;
  }
  let control = 0;
  for (const c of body) {
    if (c === 0) return false;
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 8 && c !== 27) control++;
    if (c === 0x7f) control++;
  }
  return control <= body.length / 100;
}

/** Decodes a prefix of a text file, holding back a character cut by the end of the prefix. */
export function decodeText(b: Uint8Array, complete: boolean): { text: string; used: number } {
  const used = complete ? b.length : b.length - incompleteTail(b);
  return { text: new TextDecoder('utf-8').decode(b.subarray(0, used)), used };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Classic 16-bytes-per-line dump: "00000000  7f 45 4c 46 … |.ELF....|" with absolute offsets. */
export function hexDump(b: Uint8Array, base: number): string {
  const lines: string[] = [];
  const width = Math.max(8, (base + b.length).toString(16).length);
  for (let i = 0; i < b.length; i += 16) {
    let h = '';
    let a = '';
    for (let j = 0; j < 16; j++) {
      if (j === 8) h += ' ';
      if (i + j < b.length) {
        const c = b[i + j]!;
        h += HEX[c] + ' ';
        a += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
      } else {
        h += '   ';
      }
    }
    lines.push(`${(base + i).toString(16).padStart(width, '0')}  ${h} |${a}|`);
  }
  return lines.join('\n');
}

/** A scalar of info()/inodeDetails() for a table cell. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.every((x) => typeof x !== 'object' || x === null) ? v.join(', ') || '—' : JSON.stringify(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * A field of info()/inodeDetails() for people: byte offsets and block addresses also in hex, modes
 * in octal, empty strings as a dash. Keys are matched loosely since each reader names its own.
 */
export function fieldText(key: string, v: unknown): string {
  const k = key.toLowerCase();
  if (typeof v === 'number' && Number.isInteger(v)) {
    if (k === 'mode' || k.endsWith('mode')) return `0${v.toString(8)}`;
    if (v >= 16 && (k.includes('offset') || k.includes('addr') || k === 'start' || k === 'end')) return `${v} (0x${v.toString(16)})`;
  }
  if (v === '') return '—';
  return showValue(v);
}

/** "blockSize" → "block size", "root_nid" → "root nid" */
export function label(key: string): string {
  return key.replace(/_/g, ' ').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}
