// The files of an image layout, wherever they are: a tar (an `oci-archive:` or a `docker save`
// archive) read by ranges, a dropped folder's files, or a Node folder (the CLI hands in a getter).
// Every path asked for is checked here first, so no name taken from a manifest can reach a file
// outside the layout.
import { SliceSource, type ByteSource } from '../io/source.ts';
import { readTar, sourceInput } from '../tar/reader.ts';
import { splitRawPath } from '../fs/sources/names.ts';
import { utf8 } from '../fs/types.ts';
import { OciError } from './errors.ts';

export interface OciFiles {
  /** for messages: the archive or folder name */
  readonly name: string;
  /** the file at a checked relative path ("index.json", "blobs/sha256/…"), or null when absent */
  get(path: string): Promise<ByteSource | null>;
}

/** Most entries an image archive may list: a layout holds a few files per layer, and 127 layers is overlayfs' own limit. */
export const MAX_ARCHIVE_ENTRIES = 100_000;

/**
 * A relative path inside a layout, checked: no absolute path, no "..", "." or empty component, no
 * NUL or backslash (a docker save manifest.json names its layers by path, and that path is input).
 */
export function checkedPath(path: string, structure: string): string {
  const parts = path.split('/');
  if (path.startsWith('/') || path.includes('\0') || path.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new OciError('bad-path', structure, `path ${JSON.stringify(path)} is not a plain relative path inside the image (absolute, "..", "." or empty components are refused)`);
  }
  return path;
}

/**
 * The regular files of a tar, by normalised path, each a window of the archive (zero copy).
 * Symbolic and hard links inside the archive (old `docker save` links a repeated layer.tar to the
 * first) are followed once, inside the archive only.
 */
export async function filesFromTar(src: ByteSource): Promise<OciFiles> {
  const files = new Map<string, ByteSource>();
  const links = new Map<string, string>();
  let n = 0;
  for await (const { entry: e } of readTar(sourceInput(src))) {
    if (++n > MAX_ARCHIVE_ENTRIES) throw new OciError('too-large', 'oci.archive', `${src.name}: more than ${MAX_ARCHIVE_ENTRIES} entries: not an image archive`, e.headerOffset);
    const path = splitRawPath(e.path).map(utf8).join('/');
    if (e.type === 'reg') files.set(path, new SliceSource(src, e.dataOffset, e.size, `${src.name}:${path}`));
    else if (e.type === 'hardlink') links.set(path, splitRawPath(e.linkname).map(utf8).join('/'));
    else if (e.type === 'symlink') {
      // relative to the link's directory; anything climbing out of the archive stays unresolved
      const dir = path.split('/').slice(0, -1);
      const out: string[] = [...dir];
      let ok = !utf8(e.linkname).startsWith('/');
      for (const c of utf8(e.linkname).split('/')) {
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (!out.length) ok = false;
          out.pop();
        } else out.push(c);
      }
      if (ok) links.set(path, out.join('/'));
    }
  }
  for (const [path, target] of links) {
    const t = files.get(target);
    if (t && !files.has(path)) files.set(path, t);
  }
  return { name: src.name, get: async (p) => files.get(p) ?? null };
}

/**
 * Files from a drop or a picker, by their path in the dropped folder. When they all sit in one
 * top folder that is not itself the layout (it holds no index.json or manifest.json), that folder
 * is the layout.
 */
export function filesFromList(list: readonly { path: string; source: ByteSource }[], name = 'files'): OciFiles {
  const norm = list.map((f) => ({ path: f.path.split('/').filter((c) => c !== '' && c !== '.').join('/'), source: f.source }));
  const tops = new Set(norm.map((f) => f.path.split('/')[0]));
  const atTop = norm.some((f) => f.path === 'index.json' || f.path === 'manifest.json');
  const strip = !atTop && tops.size === 1 && norm.every((f) => f.path.includes('/'));
  const files = new Map<string, ByteSource>();
  for (const f of norm) files.set(strip ? f.path.slice(f.path.indexOf('/') + 1) : f.path, f.source);
  return { name: strip ? [...tops][0]! : name, get: async (p) => files.get(p) ?? null };
}

/**
 * Whether files from a drop are an image layout: index.json with oci-layout, or docker save's
 * manifest.json, at the top or at the top of the one folder they all sit in.
 */
export function isImageLayout(paths: readonly string[]): boolean {
  const norm = paths.map((p) => p.split('/').filter((c) => c !== '' && c !== '.'));
  const tops = new Set(norm.map((c) => (c.length > 1 ? c[0] : '')));
  const prefix = tops.size === 1 && !tops.has('') ? 1 : 0;
  const top = new Set(norm.filter((c) => c.length === prefix + 1).map((c) => c[prefix]));
  if (top.has('index.json') && top.has('oci-layout')) return true;
  // a manifest.json alone is too common (web extensions, app bundles): docker save also writes
  // `repositories`, or its config as <hex>.json, or (Docker 25) blobs/
  return top.has('manifest.json') && (top.has('repositories') || [...top].some((n) => /^[0-9a-f]{64}\.json$/.test(n!)) || norm.some((c) => c[prefix] === 'blobs' && c.length > prefix + 1));
}
