/**
 * The one rendering of names and other raw bytes from an image, for the page and the CLI alike:
 * UTF-8 when the bytes are valid UTF-8 and hold no control character, else every valid printable
 * sequence as is and every other byte as `\xNN`. Names are bytes on disk (see fs/types.ts); a
 * rendering that is not the exact decoding carries the raw bytes as hex so nothing is lost.
 * In a path (pathText, and every message naming an entry) a component shows "/" as `\x2f`: no name
 * can hold one, and a damaged image's "s/../x" must not read as three components.
 */
import { hex } from './hex.ts';

/** A name from the image: `text` for display, `hex` only when `text` is not the exact decoding. */
export interface Name {
  text: string;
  hex?: string;
}

const fatal = new TextDecoder('utf-8', { fatal: true });

/** C0 controls and DEL would move a terminal's cursor or hide text: always escaped. */
function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/** Length of the UTF-8 sequence a lead byte starts (0: not a lead byte). */
function sequenceLength(c: number): number {
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c < 0xe0) return 2;
  if (c >= 0xe0 && c < 0xf0) return 3;
  if (c >= 0xf0 && c < 0xf5) return 4;
  return 0;
}

function escapeByte(c: number): string {
  return '\\x' + c.toString(16).padStart(2, '0');
}

/** The exact decoding, or null when the bytes are not valid UTF-8 or hold a control character. */
function exactText(b: Uint8Array): string | null {
  for (const c of b) if (isControl(c)) return null;
  try {
    return fatal.decode(b);
  } catch {
    return null;
  }
}

/** Display text of raw bytes: see the module comment. */
export function nameText(b: Uint8Array): string {
  const exact = exactText(b);
  if (exact !== null) return exact;
  let s = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = sequenceLength(c);
    if (n === 1 && !isControl(c)) {
      s += String.fromCharCode(c);
      i++;
      continue;
    }
    if (n > 1 && i + n <= b.length) {
      try {
        s += fatal.decode(b.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // not a valid sequence: the lead byte is escaped below
      }
    }
    s += escapeByte(c);
    i++;
  }
  return s;
}

export function nameOf(b: Uint8Array): Name {
  const exact = exactText(b);
  return exact !== null ? { text: exact } : { text: nameText(b), hex: hex(b) };
}

/** One path component: nameText, with "/" as `\x2f` (see the module comment). */
export function componentText(b: Uint8Array): string {
  const t = nameText(b);
  // nameText leaves a "/" byte as it is, and no escape or multi-byte character it writes holds one
  return b.includes(0x2f) ? t.replaceAll('/', '\\x2f') : t;
}

/** An absolute path from its byte components ("/" for none), each rendered by componentText. */
export function pathText(components: readonly Uint8Array[]): string {
  if (components.length === 0) return '/';
  let s = '';
  for (const c of components) s += '/' + componentText(c);
  return s;
}

/** `dir` (a pathText) and one more component below it. */
export function childText(dir: string, name: Uint8Array): string {
  return (dir === '/' ? '/' : dir + '/') + componentText(name);
}
