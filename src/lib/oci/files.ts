// The files of an image layout, wherever they are: a tar (an `oci-archive:` or a `docker save`
// archive) read by ranges, a dropped folder's files, or a Node folder (the CLI hands in a getter).
// Every path asked for is checked here first, so no name taken from a manifest can reach a file
// outside the layout.
import { BytesSource, SliceSource, type ByteSource } from '../io/source.ts';
import { gunzipChunks } from '../tar/gunzip.ts';
import { chunkInput, readTar, sourceInput } from '../tar/reader.ts';
import type { ContentSpill } from '../fs/sources/tar.ts';
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
      const t = resolveLink(path, utf8(e.linkname));
      if (t !== null) links.set(path, t);
    }
  }
  for (const [path, target] of links) {
    const t = files.get(target);
    if (t && !files.has(path)) files.set(path, t);
  }
  return layoutFiles(files, src.name);
}

/** Archive members kept in memory when a compressed archive is unpacked without a spill store (JSON files are small). */
const MAX_MEMORY_MEMBER = 1 << 20;

/**
 * A gzip-compressed image archive (`docker save | gzip`): decompressed once, in a stream; each
 * member kept in memory when small (the JSON files), else in `spill` (a temp file in Node, Blobs
 * in a browser). Links inside the archive are followed as filesFromTar does.
 */
export async function filesFromTarGz(src: ByteSource, spill?: ContentSpill): Promise<OciFiles> {
  const files = new Map<string, ByteSource>();
  const links = new Map<string, string>();
  let n = 0;
  for await (const rec of readTar(chunkInput(gunzipChunks(src), src.name))) {
    const e = rec.entry;
    if (++n > MAX_ARCHIVE_ENTRIES) throw new OciError('too-large', 'oci.archive', `${src.name}: more than ${MAX_ARCHIVE_ENTRIES} entries: not an image archive`, e.headerOffset);
    const path = splitRawPath(e.path).map(utf8).join('/');
    if (e.type === 'hardlink') links.set(path, splitRawPath(e.linkname).map(utf8).join('/'));
    else if (e.type === 'symlink') {
      const t = resolveLink(path, utf8(e.linkname));
      if (t !== null) links.set(path, t);
    } else if (e.type === 'reg') {
      const name = `${src.name}:${path}`;
      if (e.size > MAX_MEMORY_MEMBER && spill) files.set(path, await spill.store(e.size, rec.content(), name));
      else {
        const buf = new Uint8Array(e.size);
        let o = 0;
        for await (const c of rec.content()) {
          buf.set(c, o);
          o += c.length;
        }
        files.set(path, new BytesSource(buf, name));
      }
    }
  }
  await spill?.finish?.();
  for (const [path, target] of links) {
    const t = files.get(target);
    if (t && !files.has(path)) files.set(path, t);
  }
  return layoutFiles(files, src.name);
}

/** A symlink's target inside the archive, relative to the link's directory; null when it climbs out or is absolute. */
function resolveLink(path: string, target: string): string | null {
  if (target.startsWith('/')) return null;
  const out = path.split('/').slice(0, -1);
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (!out.length) return null;
      out.pop();
    } else out.push(c);
  }
  return out.join('/');
}

/**
 * Files from a drop or a picker, by their path in the dropped folder. When they all sit in one
 * top folder that is not itself the layout (it holds no index.json or manifest.json), that folder
 * is the layout.
 */
export function filesFromList(list: readonly { path: string; source: ByteSource }[], name = 'files'): OciFiles {
  const files = new Map<string, ByteSource>();
  for (const f of list) files.set(f.path.split('/').filter((c) => c !== '' && c !== '.').join('/'), f.source);
  return layoutFiles(files, name, (top) => top);
}

/**
 * Files by path as a layout: when they all sit in one top folder that is not itself the layout (no
 * index.json or manifest.json at the top), that folder is the layout (`tar cf img.tar img/`, a drop).
 */
function layoutFiles(byPath: Map<string, ByteSource>, name: string, named = (top: string) => `${name}:${top}`): OciFiles {
  const paths = [...byPath.keys()];
  const tops = new Set(paths.map((p) => p.split('/')[0]));
  const atTop = byPath.has('index.json') || byPath.has('manifest.json');
  let files = byPath;
  let shown = name;
  if (!atTop && tops.size === 1 && paths.every((p) => p.includes('/'))) {
    const top = [...tops][0]!;
    files = new Map(paths.map((p) => [p.slice(top.length + 1), byPath.get(p)!]));
    shown = named(top);
  }
  return { name: shown, get: async (p) => files.get(p) ?? null };
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
