import type { SourceInode } from '../tree.ts';

/**
 * Names taken from an archive, an image or a browser are untrusted: a component that would let a
 * path escape or mean something else on extraction is refused (or skipped, by choice).
 */
export function unsafeComponent(name: Uint8Array): string | null {
  if (name.length === 0) return 'empty name';
  if (name.length === 1 && name[0] === 0x2e) return '"."';
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return '".."';
  if (name.includes(0x2f)) return 'contains "/"';
  if (name.includes(0)) return 'contains NUL';
  return null;
}

const dec = new TextDecoder('utf-8', { fatal: false });
/** A path of raw components for messages: JSON-quoted, '/'-joined. */
export function showPath(comps: readonly Uint8Array[]): string {
  return JSON.stringify('/' + comps.map((c) => dec.decode(c)).join('/'));
}
export function showBytes(b: Uint8Array): string {
  return JSON.stringify(dec.decode(b));
}

/** Split raw path bytes on '/', dropping empty and "." components (leading '/', "./", "a//b"). */
export function splitRawPath(path: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      if (i > start && !(i - start === 1 && path[start] === 0x2e)) out.push(path.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

/** bytes → string of one char per byte: lossless, for map keys of raw names (lib/bytes.ts binKey) */
export { binKey as byteString } from '../../bytes.ts';

/**
 * Mark hardlinks (SourceDirent.link): the first dirent of a non-directory inode is its primary
 * name, every later one gets `link: true`. Order: a directory's entries as listed, then its
 * subdirectories depth-first, so the result depends only on the tree.
 */
export function markHardlinks(root: SourceInode): void {
  const seen = new Set<SourceInode>([root]);
  const stack: SourceInode[] = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    const kids = dir.children ?? [];
    // reverse push so directories are entered in listed order
    const sub: SourceInode[] = [];
    for (const d of kids) {
      if (d.inode.type === 'dir') {
        if (!seen.has(d.inode)) {
          seen.add(d.inode);
          sub.push(d.inode);
        }
        continue;
      }
      if (seen.has(d.inode)) d.link = true;
      else {
        seen.add(d.inode);
        delete d.link;
      }
    }
    for (let i = sub.length - 1; i >= 0; i--) stack.push(sub[i]!);
  }
}
