import { closeSync, constants, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { copyFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackingObject } from '../lib/composefs/objects.ts';
import type { ErofsAlgorithm, ErofsCompression } from '../lib/erofs/writer.ts';
import type { SourceTree } from '../lib/fs/tree.ts';
import type { ByteSource } from '../lib/io/source.ts';
import { FileSink } from '../lib/rafs/builder/node.ts';
import type { RafsBuildOptions } from '../lib/rafs/builder/types.ts';
import type { RafsFs } from '../lib/rafs/model.ts';
import { openInput, sourceTreeOf } from '../lib/app/open.ts';
import { buildImage, type ImageBuildOptions } from '../lib/app/build.ts';
import { buildRafsLayers, buildTarfsLayer, type LayerFiles, type OutputFile } from '../lib/app/build-layers.ts';
import { UsageError } from './format.ts';
import { withVerityPool } from './verity-pool.ts';
import { imageOptions, openFile, openPath, type ImageArgs } from './open.ts';
import { buildZranRafs } from '../lib/rafs/builder/zran.ts';
import { useTempZDataStore, zstoreDir } from './zstore.ts';
import { buildTarIndex } from '../lib/erofs/writer-tar-index.ts';
import { treeFromTar } from '../lib/fs/sources/tar.ts';

/** A sink writing to a file with plain write(2) calls. */
export function fileSink(path: string): { write(chunk: Uint8Array): void; close(): void; bytes: number; readonly releases: true } {
  const fd = openSync(path, 'w', 0o644);
  const sink = {
    bytes: 0,
    // writeSync is done with the chunk when it returns: the writer may fill it again (Sink.releases)
    releases: true as const,
    write(chunk: Uint8Array) {
      for (let w = 0; w < chunk.length; ) w += writeSync(fd, chunk, w, chunk.length - w);
      sink.bytes += chunk.length;
    },
    close() { closeSync(fd); },
  };
  return sink;
}

/** fileSink as an OutputFile: closed once (an abort after a failed close must not close the descriptor number again). */
function outputFile(path: string): ReturnType<typeof fileSink> & OutputFile {
  const f = fileSink(path);
  const closeFd = f.close;
  let open = true;
  f.close = () => {
    if (!open) return;
    open = false;
    closeFd();
  };
  return Object.assign(f, { abort: f.close });
}

/** RAFS outputs as files: bootstraps at their paths, blobs in `blobDir` (named by id once written); fsync'd on close. */
function rafsFiles(blobDir: string): LayerFiles<FileSink & OutputFile> {
  const file = (path: string) => {
    const f = new FileSink(path);
    return Object.assign(f, { abort: () => f.close() });
  };
  return {
    bootstrap: file,
    blob: (temp) => file(join(blobDir, `${temp}-${process.pid}`)),
    keep: (f, id) => rename(f.path, join(blobDir, id)),
    remove: (f) => rm(f.path, { force: true }),
    read: (f) => openFile(f.path),
  };
}

const ALGORITHMS: readonly ErofsAlgorithm[] = ['lz4', 'lz4hc', 'deflate', 'zstd'];

/** mkfs.erofs -E options Layerscope builds (comma list; each may be given in several -E) */
const EXTENDED = ['ztailpacking', 'fragments', 'dedupe', 'legacy-compress'] as const;
export type ExtendedOption = (typeof EXTENDED)[number];

/** mkfs.erofs' `-E a,b,c` as a set of known names; anything else is a usage error */
export function parseExtended(e: string | readonly string[]): Set<ExtendedOption> {
  const out = new Set<ExtendedOption>();
  for (const part of (typeof e === 'string' ? [e] : e).flatMap((x) => x.split(','))) {
    const name = part.trim();
    if (name === '') continue;
    if (!EXTENDED.includes(name as ExtendedOption)) throw new UsageError(`-E ${name}: Layerscope builds ${EXTENDED.join(', ')}`);
    out.add(name as ExtendedOption);
  }
  return out;
}

/**
 * mkfs.erofs' `-z ALG[,LEVEL]` (and `-C BYTES`, `-E` options) as writer options. Also accepts
 * mkfs 1.8's `level=N` form of the level.
 */
export function parseCompression(z: string, pclusterSize?: number, legacy = false, extended: ReadonlySet<ExtendedOption> = new Set()): ErofsCompression {
  const [alg, ...rest] = z.split(',');
  if (!ALGORITHMS.includes(alg as ErofsAlgorithm)) throw new UsageError(`-z ${z}: the algorithm is one of ${ALGORITHMS.join(', ')}`);
  const c: ErofsCompression = { algorithm: alg as ErofsAlgorithm };
  if (rest.length > 1) throw new UsageError(`-z ${z}: one level at most`);
  if (rest.length === 1) {
    const lv = rest[0]!.replace(/^level=/, '');
    if (!/^\d+$/.test(lv)) throw new UsageError(`-z ${z}: the level is a whole number`);
    c.level = Number(lv);
  }
  if (pclusterSize !== undefined) c.pclusterSize = pclusterSize;
  if (legacy || extended.has('legacy-compress')) c.indexes = 'full';
  if (extended.has('ztailpacking')) c.ztailpacking = true;
  if (extended.has('fragments')) c.fragments = true;
  if (extended.has('dedupe')) c.dedupe = true;
  return c;
}

/**
 * SRC may be a directory, a tar or tar.gz layer, a composefs dump or any image Layerscope reads;
 * files are told apart by their bytes (src/lib/app/open.ts), not names.
 */
export async function loadSource(path: string, imageArgs: ImageArgs = {}): Promise<SourceTree> {
  return sourceTreeOf(await openPath(path, imageArgs));
}

/** loadSource for a file already opened with openFile (`name` for messages). */
export async function loadSourceFile(src: ByteSource, _name: string, imageArgs: ImageArgs = {}): Promise<SourceTree> {
  return sourceTreeOf(await openInput(src, { strictDump: true, ...(await imageOptions(imageArgs)) }));
}

export interface BuildArgs {
  format: string;
  out: string;
  digestStore?: string;
  minVersion?: number;
  /** composefs: keep (default) or split hardlinks (ComposefsOptions.hardlinks) */
  hardlinks?: string;
  maxVersion?: number;
  chunkSize?: number;
  uuid?: string;
  buildTime?: number;
  inlineData?: boolean;
  /** EROFS: mkfs.erofs -z value, `lz4`, `lz4hc[,level]`, `deflate[,level]`, `zstd[,level]` */
  compression?: string;
  /** EROFS: mkfs.erofs -C, the largest pcluster in bytes */
  pclusterSize?: number;
  /** EROFS: COMPRESSED_FULL indexes (mkfs -Elegacy-compress) */
  legacyCompress?: boolean;
  /** EROFS: mkfs.erofs -E values (ztailpacking, fragments, dedupe, legacy-compress; comma lists) */
  extended?: string | string[];
  /** EROFS: mkfs.erofs -b, the block size in bytes */
  blockSize?: number;
  /** RAFS */
  blobDir?: string;
  compressor?: string;
  /** RAFS v6: small chunks packed into batches of this size (nydus-image --batch-size) */
  batchSize?: number;
  digester?: string;
  alignedChunk?: boolean;
  /** RAFS v6: nydus-image `--encrypt` (AES-128-XTS, random key and IV in the bootstrap) */
  encrypt?: boolean;
  /** EROFS --tar=i: mkfs.erofs --aufs, OCI whiteouts as overlayfs whiteouts */
  aufs?: boolean;
  /** RAFS v6: nydus-image `--type`; 'tar-tarfs' builds a tarfs bootstrap over `tarfsSource` (SRC as given) */
  type?: string;
  tarfsSource?: string;
  prefetch?: string[];
  parent?: RafsFs;
  chunkDict?: RafsFs;
  onProgress?: (p: { files: number; bytes: number; total: number }) => void;
}

export interface BuildSummary {
  format: string;
  out: string;
  size: number;
  digest?: string;
  objects?: { count: number; written: number; bytes: number };
  [k: string]: unknown;
}


/**
 * Copies each backing object into DIR/xx/yyyy… unless it is already there (the store is content-addressed).
 * An object read from a local file is copied by the kernel (copyFile: copy_file_range or a reflink, as
 * mkcomposefs does), four at once on libuv's pool; before, each was read into JS and written back with
 * writeSync: 3.1 s of a 5.6 s build of a 530 MB tree (1.8 s in write, 1.0 s reading again).
 */
async function writeObjectStore(objects: readonly BackingObject[], dir: string): Promise<{ count: number; written: number; bytes: number }> {
  let written = 0, bytes = 0;
  const made = new Set<string>();
  const store = async (o: BackingObject): Promise<void> => {
    const p = join(dir, o.payload);
    if (existsSync(p)) return;
    const sub = o.payload.slice(0, 2);
    if (!made.has(sub)) {
      mkdirSync(join(dir, sub), { recursive: true });
      made.add(sub);
    }
    if (o.content.path !== undefined) {
      await copyFile(o.content.path, p + '.tmp', constants.COPYFILE_FICLONE);
      // the object must hold the bytes that were hashed: a file that changed size since is refused
      const st = await stat(p + '.tmp');
      if (st.size !== o.size) throw new Error(`${o.content.name}: ${st.size} bytes now, ${o.size} when hashed`);
    } else {
      const sink = fileSink(p + '.tmp');
      try {
        for (let off = 0; off < o.size; off += 4 << 20) sink.write(await o.content.read(off, Math.min(4 << 20, o.size - off)));
      } finally {
        sink.close();
      }
    }
    await rename(p + '.tmp', p);
    written++;
    bytes += o.size;
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < objects.length) await store(objects[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(4, objects.length) }, worker));
  return { count: objects.length, written, bytes };
}

/** argv-shaped build arguments as the application layer's build options. */
function buildOptions(a: BuildArgs): ImageBuildOptions {
  if (a.format === 'composefs') {
    if (a.hardlinks !== undefined && a.hardlinks !== 'keep' && a.hardlinks !== 'split') throw new UsageError(`--hardlinks ${a.hardlinks}: keep or split`);
    return {
      format: 'composefs', minVersion: a.minVersion, maxVersion: a.maxVersion, objects: a.digestStore !== undefined && a.digestStore !== '',
      ...(a.hardlinks ? { hardlinks: a.hardlinks } : {}),
    };
  }
  if (a.format === 'erofs') {
    const o: ImageBuildOptions = { format: 'erofs', chunkSize: a.chunkSize, uuid: a.uuid, buildTime: a.buildTime, inlineData: a.inlineData };
    if (a.blockSize !== undefined) o.blockSize = a.blockSize;
    const ext = parseExtended(a.extended ?? []);
    if (a.compression !== undefined) o.compression = parseCompression(a.compression, a.pclusterSize, a.legacyCompress, ext);
    else if (a.pclusterSize !== undefined) throw new UsageError('-C (pcluster size) needs -z');
    else if (ext.size) throw new UsageError(`-E ${[...ext].join(',')} needs -z`);
    return o;
  }
  if (a.format === 'rafs-v6' || a.format === 'rafs-v5') {
    return {
      format: 'rafs', version: a.format === 'rafs-v5' ? 5 : 6, chunkSize: a.chunkSize, compressor: a.compressor as RafsBuildOptions['compressor'],
      batchSize: a.batchSize, digester: a.digester as RafsBuildOptions['digester'], ...(a.alignedChunk ? { alignedChunk: true } : {}), ...(a.encrypt ? { encrypt: true } : {}),
      prefetch: a.prefetch, parent: a.parent, chunkDict: a.chunkDict, onProgress: a.onProgress,
    };
  }
  throw new UsageError(`unknown --format ${a.format} (composefs, erofs, rafs-v6, rafs-v5)`);
}

/** `--tar=i` (type 'tar-index'): an EROFS whose file data stays in the tar, device 1; only the image is written. */
async function buildTarIndexFile(a: BuildArgs): Promise<BuildSummary> {
  if (a.format !== 'erofs') throw new UsageError('--tar=i builds EROFS only (as mkfs.erofs)');
  if (!a.tarfsSource) throw new UsageError('--tar=i needs SRC to be an uncompressed tar file');
  for (const [k, v] of Object.entries({ '-z': a.compression, '-C': a.pclusterSize, '-E': a.extended, '--chunksize': a.chunkSize, '-b': a.blockSize })) {
    if (v !== undefined) throw new UsageError(`--tar=i conflicts with ${k} (the data stays uncompressed in the tar, in 512-byte blocks)`);
  }
  const tar = await openFile(a.tarfsSource);
  try {
    const tree = await treeFromTar(tar);
    const sink = fileSink(a.out);
    try {
      const r = await buildTarIndex(tree, tar, sink, { aufs: a.aufs === true });
      return { format: 'erofs', out: a.out, size: r.size, blocks: r.blocks, inodes: r.inodes, files: r.files, device: a.tarfsSource, deviceBlocks: r.deviceBlocks };
    } finally {
      sink.close();
    }
  } finally {
    await tar.close?.();
  }
}

/** `--type tar-tarfs`: only the bootstrap is written; the tar itself is the data blob (not copied). */
async function buildTarfsFile(a: BuildArgs): Promise<BuildSummary> {
  if (a.format !== 'rafs-v6') throw new UsageError('--type tar-tarfs builds RAFS v6 only (as nydus-image)');
  if (!a.tarfsSource) throw new UsageError('--type tar-tarfs needs SRC to be an uncompressed tar file');
  // as nydus-image's own checks for tar-tarfs (src/bin/nydus-image/main.rs)
  for (const [k, v] of [['--batch-size', a.batchSize], ['--parent', a.parent], ['--chunk-dict', a.chunkDict], ['--prefetch-list', a.prefetch], ['--encrypt', a.encrypt], ['--aligned-chunk', a.alignedChunk]] as const) {
    if (v !== undefined && v !== 0 && v !== false) throw new UsageError(`--type tar-tarfs conflicts with ${k}`);
  }
  const tar = await openFile(a.tarfsSource);
  const files = { bootstrap: outputFile, remove: () => rm(a.out, { force: true }) };
  const { result: r } = await buildTarfsLayer(tar, a.tarfsSource, a.out, a.chunkSize !== undefined ? { chunkSize: a.chunkSize } : {}, files);
  return { format: a.format, out: a.out, size: r.bootstrapSize, blob: a.tarfsSource, blobId: r.blobId, blobSize: r.blobSize, blobIds: r.blobIds, stats: r.stats, notes: r.notes };
}

/**
 * `--type targz-ref`: the bootstrap, and in --blob-dir the RAFS meta blob named by its SHA-256; the
 * .tar.gz itself is the data blob (not copied; its SHA-256 is the blob id).
 */
async function buildZranFile(a: BuildArgs): Promise<BuildSummary> {
  if (a.format !== 'rafs-v6') throw new UsageError('--type targz-ref builds RAFS v6 only (as nydus-image)');
  if (!a.tarfsSource) throw new UsageError('--type targz-ref needs SRC to be a .tar.gz layer');
  if (!a.blobDir) throw new UsageError('--type targz-ref needs --blob-dir DIR (the RAFS meta blob is written there, named by its sha256)');
  for (const [k, v] of [['--batch-size', a.batchSize], ['--parent', a.parent], ['--chunk-dict', a.chunkDict], ['--prefetch-list', a.prefetch], ['--encrypt', (a as { encrypt?: boolean }).encrypt]] as const) {
    if (v !== undefined && v !== 0 && v !== false) throw new UsageError(`--type targz-ref conflicts with ${k}`);
  }
  const notes: string[] = [];
  // as nydus-image: a ref build references gzip chunks and names them by sha256, whatever is asked
  if (a.compressor !== undefined && a.compressor !== 'gzip') notes.push(`--compressor ${a.compressor} ignored: targz-ref chunks are the layer's gzip stream`);
  if (a.digester !== undefined && a.digester !== 'sha256') notes.push(`--digester ${a.digester} ignored: targz-ref uses sha256`);
  const layer = await openFile(a.tarfsSource);
  mkdirSync(a.blobDir, { recursive: true });
  const meta: Uint8Array[] = [];
  const sink = fileSink(a.out);
  let r: Awaited<ReturnType<typeof buildZranRafs>>;
  try {
    r = await buildZranRafs(layer, a.chunkSize !== undefined ? { chunkSize: a.chunkSize } : {}, { bootstrap: sink, meta: { write: (c) => void meta.push(c.slice()) } });
  } finally {
    sink.close();
  }
  let metaPath: string | null = null;
  if (r.metaBlobId) {
    metaPath = join(a.blobDir, r.metaBlobId);
    const m = fileSink(metaPath);
    for (const c of meta) m.write(c);
    m.close();
  }
  return {
    format: a.format, out: a.out, size: r.bootstrapSize, blob: metaPath, blobId: r.blobId, blobSize: r.metaBlobSize, blobIds: r.chunks > 0 ? [r.blobId] : [],
    zran: { layer: a.tarfsSource, chunks: r.chunks, contexts: r.contexts, deduplicated: r.deduplicated }, notes: [...notes, ...r.notes],
  };
}

export async function build(tree: SourceTree, a: BuildArgs): Promise<BuildSummary> {
  if (a.type !== undefined && a.type !== 'dir-rafs' && a.type !== 'tar-rafs') {
    if (a.type === 'tar-tarfs') return buildTarfsFile(a);
    if (a.type === 'tar-index') return buildTarIndexFile(a);
    if (a.type === 'targz-ref') return buildZranFile(a);
    throw new UsageError(`--type ${a.type}: Layerscope builds tar-rafs/dir-rafs (the default), tar-tarfs and targz-ref`);
  }
  if (a.format === 'rafs-v6' || a.format === 'rafs-v5') {
    if (!a.blobDir) throw new UsageError('RAFS builds need --blob-dir DIR (where the data blob is written, named by its id)');
    const o = buildOptions(a);
    if (o.format !== 'rafs') throw new Error('RAFS arguments gave no RAFS options');
    mkdirSync(a.blobDir, { recursive: true });
    // one layer, through the page's layer loop (src/lib/app/build-layers.ts), onto --parent when given
    const r = (await buildRafsLayers([{ tree, label: a.out, bootstrapName: a.out }], o, rafsFiles(a.blobDir)))[0]!.result;
    const blobPath = r.blobId ? join(a.blobDir, r.blobId) : null;
    return { format: a.format, out: a.out, size: r.bootstrapSize, blob: blobPath, blobId: r.blobId, blobSize: r.blobSize, blobIds: r.blobIds, stats: r.stats, notes: r.notes };
  }
  let sink: ReturnType<typeof fileSink> | undefined;
  let objects: { count: number; written: number; bytes: number } | undefined;
  try {
    // EROFS opens its output first; composefs once the object store is filled
    if (a.format === 'erofs') sink = fileSink(a.out);
    // compressed pclusters wait for the write in a temporary file, not in memory (src/cli/zstore.ts);
    // LAYERSCOPE_ZSTORE=memory keeps them in memory (A/B measurements)
    if (a.format === 'erofs' && a.compression !== undefined && process.env.LAYERSCOPE_ZSTORE !== 'memory') useTempZDataStore(zstoreDir(a.out));
    const o = buildOptions(a);
    const image = sink ?? (() => (sink = fileSink(a.out)));
    const run = () => buildImage(tree, o, { image }, {
      async objectsHashed(list) {
        if (a.digestStore) objects = await writeObjectStore(list, a.digestStore);
      },
    });
    // composefs: fs-verity of every file on worker threads (verity-pool.ts), started by main.ts before the walk
    const built = a.format === 'composefs' ? await withVerityPool(run) : await run();
    if (built.format === 'composefs') {
      const r = built.composefs;
      return { format: 'composefs', out: a.out, size: r.size, version: r.version, inodes: r.inodes, digest: built.digest, ...(objects ? { objects } : {}) };
    }
    if (built.format !== 'erofs') throw new Error(`a ${a.format} build gave a ${built.format} result`);
    const r = built.erofs;
    return {
      format: 'erofs', out: a.out, size: r.size, blocks: r.blocks, inodes: r.inodes,
      ...(r.chunks ? { chunks: r.chunks } : {}), ...(r.compressed ? { compressed: r.compressed } : {}),
    };
  } finally {
    sink?.close();
    useTempZDataStore(null);
  }
}
