/**
 * Opening any input, for the page's workers and the CLI alike: one file's bytes are told apart in
 * one order (sniffInput), a folder arrives as the tree its platform read, and several files are
 * sorted into the image, its blobs / extra devices and a composefs object store (openFiles). Every
 * input ends as a ReadOnlyFs; tar, dump and folder inputs also keep the tree builders consume.
 */
import '../formats.ts';
import { parseDump } from '../composefs/dump.ts';
import { FormatError, NotFoundError } from '../errors.ts';
import { treeFromImage } from '../fs/sources/image.ts';
import { looksLikeTarball, treeFromTarball, type ContentSpill } from '../fs/sources/tar.ts';
import { treeFs } from '../fs/sources/treefs.ts';
import { inodesOf, type SourceTree } from '../fs/tree.ts';
import { gunzipChunks } from '../tar/gunzip.ts';
import type { ReadOnlyFs } from '../fs/types.ts';
import { chunksOf, type ByteSource } from '../io/source.ts';
import { detectFormat, detectFormatByHead, openImage, type OpenOptions } from '../open.ts';
import { readTar, chunkInput } from '../tar/reader.ts';
import { splitRawPath } from '../fs/sources/names.ts';
import { utf8 } from '../fs/types.ts';
import { filesFromList, filesFromTar, filesFromTarGz, isImageLayout, loadOci, looksLikeOciArchive, type LoadedOci, type OpenOciOptions } from '../oci/index.ts';

export type InputKind = 'image' | 'tar' | 'dump' | 'folder' | 'oci';

export interface InputOptions extends OpenOptions {
  /** tar.gz: where content that does not stay in memory goes */
  spill?: ContentSpill;
  /** composefs dumps: parse as mkcomposefs does with CFS_PARSE_STRICT */
  strictDump?: boolean;
  /** image archives and layouts: the platform or tag to open (default: the only one, else linux/amd64) */
  oci?: OpenOciOptions;
}

export interface OpenedInput {
  kind: InputKind;
  fs: ReadOnlyFs;
  /** the bytes opened; a folder has none (reads refuse) and its size is its content bytes */
  image: ByteSource;
  /** tar, dump, folder: the tree read (a builder takes it as it is); null for an image */
  tree: SourceTree | null;
  /** an image archive or layout: the loaded image (config, layers, changes) the Image view shows */
  oci?: LoadedOci;
}

/**
 * What one file holds, by its bytes, never its name: an image's magic first (a Nydus data blob
 * carrying its bootstrap is a tar stream too, and is wanted as the image), then a tar or tar.gz
 * layer, then a composefs dump (its first line starts with "/"), plain or gzip-compressed (the
 * upstream test assets ship as .dump.gz; a gzip stream is a dump when it starts with "/ ", the
 * root's line, which no tar header does). null: none of these.
 */
export async function sniffInput(src: ByteSource): Promise<Exclude<InputKind, 'folder'> | null> {
  if (src.size === 0) return null;
  if (await detectFormat(src)) return 'image';
  if (await isGzipDump(src)) return 'dump';
  // an image archive (oci-archive, docker save) is a tar too: its top-level files tell it apart
  if (await looksLikeTarball(src)) return (await looksLikeOciArchive(src)) || (await isGzipImageArchive(src)) ? 'oci' : 'tar';
  const head = await src.read(0, 1);
  if (head[0] === 0x2f) return 'dump';
  return null;
}

function isGzip(src: ByteSource, head: Uint8Array): boolean {
  return src.size >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** the first decompressed bytes of a gzip stream start the root's dump line ("/ ") */
async function isGzipDump(src: ByteSource): Promise<boolean> {
  if (!isGzip(src, await src.read(0, Math.min(2, src.size)))) return false;
  try {
    // leaving the loop closes the stream: only the first piece is decompressed
    for await (const piece of gunzipChunks(src, { readSize: 64 << 10 })) return piece.length >= 2 && piece[0] === 0x2f && piece[1] === 0x20;
  } catch (e) {
    // a damaged stream is left to the tar reader, which names where it breaks
    if (e instanceof FormatError) return false;
    throw e;
  }
  return false;
}

/**
 * What an image archive's first file is: a layout file, a blob, a layer tar named by its digest
 * (skopeo's docker-archive) or a legacy docker save layer folder's file; the digest-named ones
 * also under one top folder (`tar cf img.tar img/`). A layer tar starting with one of these names
 * is not expected (one that does is refused as an image without a layout, not opened as a layer).
 */
const ARCHIVE_HEAD = /^(?:index\.json|manifest\.json|repositories|(?:[^/]+\/)?(?:oci-layout|blobs\/sha256\/[0-9a-f]{64}|[0-9a-f]{64}(?:\.json|\.tar|\/(?:layer\.tar|json|VERSION))))$/;

/**
 * `docker save | gzip`: a gzip stream whose first file is an image archive's (ARCHIVE_HEAD). Only
 * the stream's start is decompressed; the whole is unpacked once it is opened (filesFromTarGz).
 */
async function isGzipImageArchive(src: ByteSource): Promise<boolean> {
  if (!isGzip(src, await src.read(0, Math.min(2, src.size)))) return false;
  try {
    for await (const { entry } of readTar(chunkInput(gunzipChunks(src, { readSize: 64 << 10 }), src.name))) {
      if (entry.type === 'dir') continue;
      return ARCHIVE_HEAD.test(splitRawPath(entry.path).map(utf8).join('/'));
    }
  } catch (e) {
    if (e instanceof FormatError) return false;
    throw e;
  }
  return false;
}

/** One file: an image (with the blobs, devices, object store and cache of `opts`), a layer or a dump. */
export async function openInput(src: ByteSource, opts: InputOptions = {}): Promise<OpenedInput> {
  const kind = await sniffInput(src);
  if (kind === 'image') {
    const { spill: _s, strictDump: _d, oci: _o, ...imageOpts } = opts;
    return { kind, fs: await openImage(src, imageOpts), image: src, tree: null };
  }
  if (kind === 'tar') return treeInput(kind, src, await treeFromTarball(src, opts.spill ? { spill: opts.spill } : {}));
  // an image archive: its merged tree, every blob checked (src/lib/oci); the default platform / only tag
  if (kind === 'oci') {
    // a gzip archive is unpacked once, big members to the spill store (the same one the layers use: the page's and the CLI's keep taking stores)
    const gz = isGzip(src, await src.read(0, Math.min(2, src.size)));
    const files = gz ? await filesFromTarGz(src, opts.spill) : await filesFromTar(src);
    const oci = await loadOci(files, { ...opts.oci, ...(opts.spill ? { spill: opts.spill } : {}) });
    return { ...treeInput(kind, src, oci.tree), oci };
  }
  if (kind === 'dump') {
    const gz = isGzip(src, await src.read(0, Math.min(2, src.size)));
    return treeInput(kind, src, await parseDump(gz ? gunzipChunks(src) : chunksOf(src), { name: src.name, strict: opts.strictDump ?? false }));
  }
  throw new FormatError('image', 0, `${src.name}: no known magic (not EROFS, composefs or Nydus RAFS), nor a tar or tar.gz layer or a composefs dump`);
}

function treeInput(kind: InputKind, image: ByteSource, tree: SourceTree): OpenedInput {
  return { kind, fs: treeFs(tree), image, tree };
}

/** A folder, as the tree its platform read (Node: treeFromDirectory; the page: treeFromBrowserItems). */
export function openFolder(tree: SourceTree, name: string): OpenedInput {
  // the regular files' total, counted when first asked: a build never asks, and the count was a
  // second walk of the whole tree with a Set of every inode (58k on the 1.05 GB bench tree) next to
  // the builder's own
  let size: number | undefined;
  const image: ByteSource = {
    name,
    get size(): number {
      if (size === undefined) {
        size = 0;
        for (const n of inodesOf(tree.root)) if (n.type === 'reg') size += n.size;
      }
      return size;
    },
    read: async () => {
      throw new NotFoundError(`image bytes: ${name} is a folder, not an image`);
    },
  };
  return treeInput('folder', image, tree);
}

/** A file given with others: `path` is its path in a dropped folder, or its name. */
export interface InputFile {
  path: string;
  source: ByteSource;
}

/** where a composefs object store keeps an object: "xx/" + 62 hex digits */
const OBJECT_PATH = /(?:^|\/)([0-9a-f]{2})\/([0-9a-f]{62})$/;

export interface FilesOpened extends OpenedInput {
  /** the files that became blobs / extra devices, in the order given */
  others: ByteSource[];
  /** how many files became the composefs object store */
  objects: number;
}

/**
 * Several files (a drop, a file picker): files laid out like a composefs object store become the
 * object store; the image is the file a format recognises (the smallest when several are: a RAFS
 * bootstrap or composefs image is smaller than its blobs) and every other file is a blob / extra
 * device. No image among them: one file is opened by openInput (a layer or a dump), files from a
 * folder are the folder (`folder` reads their tree).
 */
export async function openFiles(files: InputFile[], opts: InputOptions & { folder?: () => SourceTree } = {}): Promise<FilesOpened> {
  if (files.length === 0) throw new NotFoundError('input: no files given');
  // a dropped image layout (OCI, docker save unpacked): its merged tree, every blob checked
  if (isImageLayout(files.map((f) => f.path))) {
    const list = filesFromList(files);
    const loaded = await loadOci(list, { ...opts.oci, ...(opts.spill ? { spill: opts.spill } : {}) });
    return { ...openFolder(loaded.tree, list.name), kind: 'oci', oci: loaded, others: [], objects: 0 };
  }
  const objects = new Map<string, ByteSource>();
  const rest: InputFile[] = [];
  for (const f of files) {
    const m = OBJECT_PATH.exec(f.path);
    if (m) objects.set(`${m[1]}/${m[2]}`, f.source);
    else rest.push(f);
  }
  const fromFolder = files.some((f) => f.path.includes('/'));
  const asFolder = (): FilesOpened => {
    const tops = new Set(files.map((f) => f.path.split('/')[0]));
    const name = tops.size === 1 ? [...tops][0]! : `${tops.size} folders`;
    return { ...openFolder(opts.folder!(), name), others: [], objects: 0 };
  };
  // a magic at the start outranks a format found elsewhere (a Nydus data blob that may carry its
  // bootstrap at the end is a blob when its bootstrap is among the files)
  let imageAt = -1;
  for (const detect of [detectFormatByHead, detectFormat]) {
    for (let i = 0; i < rest.length; i++) {
      const s = rest[i]!.source;
      if (s.size === 0 || !(await detect(s))) continue;
      if (imageAt < 0 || s.size < rest[imageAt]!.source.size) imageAt = i;
    }
    if (imageAt >= 0) break;
  }
  if (imageAt < 0) {
    if (rest.length === 1 && objects.size === 0 && (!fromFolder || !opts.folder || (await sniffInput(rest[0]!.source)) !== null)) {
      return { ...(await openInput(rest[0]!.source, opts)), others: [], objects: 0 };
    }
    if (fromFolder && opts.folder) return asFolder();
    const names = rest.map((f) => f.source.name).join(', ') || '(only composefs objects)';
    throw new FormatError('image', 0, `no file has a known magic (not EROFS, composefs or Nydus RAFS): ${names}`);
  }
  const image = rest[imageAt]!.source;
  const others = rest.filter((_, i) => i !== imageAt).map((f) => f.source);
  const imageOpts: InputOptions = { ...opts, blobs: [...(opts.blobs ?? []), ...others] };
  if (objects.size) {
    imageOpts.objectStore = async (payload) => objects.get(payload.replace(/^\/+/, '')) ?? null;
  }
  return { ...(await openInput(image, imageOpts)), others, objects: objects.size };
}

/** The source tree a builder consumes: the tree read, or the image's tree (names unsafe on export skipped). */
export async function sourceTreeOf(o: OpenedInput, unsafeNames: 'error' | 'skip' = 'error'): Promise<SourceTree> {
  return o.tree ?? treeFromImage(o.fs, o.fs.rootIno, { unsafeNames });
}
