// The CLI's file access: Node files (cached, named by their basename so RAFS can match blobs by
// id), the image options (--blob, --blob-dir, --device, --objects) as sources, and a path opened
// through the application layer (src/lib/app/open.ts), which tells inputs apart.
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { openFolder, openInput, type InputOptions, type OpenedInput } from '../lib/app/open.ts';
import { IoError, NotFoundError } from '../lib/errors.ts';
import { treeFromDirectory } from '../lib/fs/sources/node.ts';
import type { ReadOnlyFs } from '../lib/fs/types.ts';
import { CachedSource } from '../lib/io/cache.ts';
import { NodeFileSource } from '../lib/io/node.ts';
import type { ByteSource } from '../lib/io/source.ts';
import { openImage } from '../lib/open.ts';
import { isImageLayout, OciError } from '../lib/oci/index.ts';
import { NYDUS as NYDUS_MT, openNydusLayout } from '../lib/oci/nydus.ts';
// cli/oci.ts imports this module too (openFile, used inside functions only): a static cycle ES modules
// allow. The dynamic import() used here before made esbuild wrap 134 modules of the CLI bundle in
// lazy initialisers, every top-level const a var assigned later (49075bc found V8 re-checking such
// constants in lz4's hot loop; a -z lz4hc build measured the same either way: 5.1 s user).
import { loadOciPath, ociFiles } from './oci.ts';

export interface ImageArgs {
  blob?: string[];
  'blob-dir'?: string;
  device?: string[];
  /** composefs object store (mkcomposefs --digest-store, composefs-info --basedir) */
  objects?: string;
  /** composefs dumps: parse them as mkcomposefs does with CFS_PARSE_STRICT set */
  strict?: boolean;
}

/**
 * Whether composefs dumps are parsed strictly: mkcomposefs 1.0.8 is lenient unless the environment
 * holds CFS_PARSE_STRICT (any value, even empty: it tests getenv() != NULL); `--strict` asks for it too.
 */
export function strictDumps(args: ImageArgs = {}, env: NodeJS.ProcessEnv = process.env): boolean {
  return args.strict === true || env.CFS_PARSE_STRICT !== undefined;
}

/** Every file the CLI opened, closed once at exit (unmatched blobs would otherwise be closed by GC, with a warning). */
const opened: NodeFileSource[] = [];
export async function closeAll(): Promise<void> {
  await Promise.all(opened.splice(0).map((s) => s.close()));
}

/** A path that does not exist is a NotFoundError (its own exit status), not a bare errno error. */
function missing(e: unknown, path: string): never {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') throw new NotFoundError(path);
  throw e;
}

export async function openFile(path: string): Promise<ByteSource> {
  const raw = await NodeFileSource.open(path, { sync: true }).catch((e: unknown) => missing(e, path));
  opened.push(raw);
  // 4 KiB blocks: mkfs.erofs 1.5 writes each inode (and its inline tail) right after the file's data,
  // so bigger blocks mostly fetch file data the metadata walk does not want
  const cached = new CachedSource(raw, 4 * 1024, 64 * 1024 * 1024);
  Object.defineProperty(cached, 'name', { value: basename(path) });
  return cached;
}

/** The image options as sources: devices and blobs in the order given, then --blob-dir's files by name. */
export async function imageOptions(args: ImageArgs = {}): Promise<InputOptions> {
  const blobs: ByteSource[] = [];
  for (const p of [...(args.device ?? []), ...(args.blob ?? [])]) blobs.push(await openFile(p));
  const dir = args['blob-dir'];
  if (dir) {
    const names = await readdir(dir).catch((e: unknown) => missing(e, dir));
    for (const name of names.sort()) {
      const p = join(dir, name);
      if ((await stat(p)).isFile()) blobs.push(await openFile(p));
    }
  }
  const objects = args.objects;
  if (!objects) return { blobs };
  const objectStore = async (payload: string): Promise<ByteSource | null> => {
    // payloads come from the image: only "xx/hex…" shapes may touch the disk
    if (!/^[0-9a-f]{2}\/[0-9a-f]{62}$/.test(payload)) return null;
    // opened without a stat first (openFile checks for a regular file): an extract opens one
    // object per file, and each thread-pool round trip left the CLI waiting
    return openFile(join(objects, payload)).catch((e: unknown) => {
      if (e instanceof IoError || e instanceof NotFoundError) return null;
      throw e;
    });
  };
  return { blobs, objectStore };
}

/**
 * Whether a directory is an image layout (OCI, or docker save unpacked): the lib's rule
 * (isImageLayout) over its top-level names, `blobs/` standing for its files.
 */
async function isLayoutDir(dir: string): Promise<boolean> {
  const names = await readdir(dir, { withFileTypes: true });
  return isImageLayout(names.map((d) => (d.isDirectory() ? `${d.name}/x` : d.name)));
}

/**
 * IMAGE as the CLI reads it: a directory is an image layout's merged tree (the host's platform
 * when its index has several) or else the tree it holds; a file is an image (by magic), a
 * tar/tar.gz layer, an image archive or a composefs dump (src/lib/app/open.ts decides, by its bytes).
 */
export async function openPath(path: string, args: ImageArgs = {}, extra: InputOptions = {}): Promise<OpenedInput> {
  const st = await stat(path).catch((e: unknown) => missing(e, path));
  if (st.isDirectory() && (await isLayoutDir(path))) {
    const oci = await loadOciPath(path, { ...extra.oci }).catch((e: unknown) => nydusOr(e));
    if (oci === null) return openNydusPath(path);
    return { ...openFolder(oci.tree, basename(path)), kind: 'oci', oci };
  }
  if (st.isDirectory()) return openFolder(await treeFromDirectory(path), basename(path));
  const opened = await openInput(await openFile(path), { strictDump: strictDumps(args), ...(await imageOptions(args)), ...extra }).catch((e: unknown) => nydusOr(e));
  return opened ?? openNydusPath(path);
}

/**
 * A layout (folder or oci-archive) that the OCI loader refuses for its Nydus blob layers is a
 * Nydus image (`convert --to nydus`, nydusify): the plain loader runs first, so plain images pay
 * nothing for this. null: it is one.
 */
function nydusOr(e: unknown): null {
  if (e instanceof OciError && e.message.includes(NYDUS_MT.blobMediaType)) return null;
  throw e;
}

/** A Nydus layout as its filesystem: the merged bootstrap with the layers' blobs (openNydusLayout). */
async function openNydusPath(path: string): Promise<OpenedInput> {
  const fs = await openNydusLayout(await ociFiles(path));
  return { kind: 'image', fs, image: fs.source, tree: null };
}

export async function openImageFile(path: string, args: ImageArgs = {}): Promise<ReadOnlyFs> {
  return (await openPath(path, args)).fs;
}

/** An image already opened with openFile, with its blobs, devices and object store from `args`. */
export async function openImageSource(image: ByteSource, args: ImageArgs = {}): Promise<ReadOnlyFs> {
  return openImage(image, await imageOptions(args));
}
