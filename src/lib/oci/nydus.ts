// An OCI image converted to Nydus as `nydusify convert` does it (nydus-snapshotter
// pkg/converter: one `Pack` per layer, then `Merge`): each layer's own tree, whiteouts kept as
// entries, built into one RAFS v6 data blob (zstd by default, blob meta, chunk digests, ToC, the
// layer's bootstrap inlined, as `nydus-image create --type tar-rafs --blob-inline-meta --features
// blob-toc --whiteout-spec none`); the layer bootstraps merged (`nydus-image merge`, OCI whiteouts
// applied there, each blob named by its layer digest) into one bootstrap, the last layer, a tar.gz
// holding `image/image.boot`; a new config and manifest with nydus' media types and annotations.
// Everything goes out through a LayoutSink: blobs are streamed and named when they end.
import { hex } from '../bytes.ts';
import { gzipCompress } from '../codec/gzip.ts';
import { UnsupportedError } from '../errors.ts';
import { MemorySink, type Sink } from '../erofs/writer-output.ts';
import { newDir, type SourceDirent, type SourceInode, type SourceTree } from '../fs/tree.ts';
import { BytesSource, SliceSource } from '../io/source.ts';
import { buildRafs } from '../rafs/builder/build.ts';
import { buildZranRafs } from '../rafs/builder/zran.ts';
import { sectionTarHeader, type WholeSha256Sink } from '../rafs/builder/blob.ts';
import type { Hasher } from '../codec/blake3.ts';
import { mergeRafs } from '../rafs/builder/merge.ts';
import { openRafs } from '../rafs/index.ts';
import { fromHex, type RafsFs } from '../rafs/model.ts';
import type { Compressor } from '../rafs/structs.ts';
import { TAR_BLOCK } from '../tar/structs.ts';
import { ustarHeader } from '../tar/writer.ts';
import { binKey } from '../bytes.ts';
import { blobPath, hasherFor, parseDigest, readVerified } from './digest.ts';
import { OciError } from './errors.ts';
import type { OciFiles } from './files.ts';
import { gunzipChunks } from '../tar/gunzip.ts';
import { chunkInput, readTar } from '../tar/reader.ts';
import type { ByteSource } from '../io/source.ts';
import type { LoadedOci } from './index.ts';
import { pathKey, type ReadLayer } from './layer.ts';
import { copyDirAttrs, mergeLayers } from './merge.ts';
import { MT, type Descriptor, type ImageConfig } from './types.ts';

/** nydus-snapshotter pkg/converter/types.go */
export const NYDUS = {
  blobMediaType: 'application/vnd.oci.image.layer.nydus.blob.v1',
  bootstrapMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  configMediaType: 'application/vnd.oci.image.config.v1+json',
  blobAnnotation: 'containerd.io/snapshot/nydus-blob',
  bootstrapAnnotation: 'containerd.io/snapshot/nydus-bootstrap',
  fsVersionAnnotation: 'containerd.io/snapshot/nydus-fs-version',
  uncompressedAnnotation: 'containerd.io/uncompressed',
  /** --oci-ref: on a blob layer, the digest of the gzip layer it references (pkg/label NydusRefLayer) */
  refAnnotation: 'containerd.io/snapshot/nydus-ref',
  /** where the merged bootstrap is in the bootstrap layer's tar */
  bootstrapPath: 'image/image.boot',
} as const;

/** A blob on its way out: bytes go in as a Sink, the digest (computed here) names it at the end. */
export interface BlobOut extends Sink {
  commit(digest: string, size: number): Promise<void>;
  abort(): Promise<void>;
}

/** Where an OCI image layout is written (a folder, a tar, a page's directory handle). */
export interface LayoutSink {
  blob(): Promise<BlobOut>;
  /** a file at the top of the layout (oci-layout, index.json), written last */
  file(path: string, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** drop what was written (after an error or a cancel) */
  abort(): Promise<void>;
}

export interface NydusProgress {
  stage: 'layer' | 'merge' | 'done';
  /** the layer being built (stage 'layer') */
  layer: number;
  layers: number;
  /** content bytes of the image chunked so far, and in all */
  bytes: number;
  total: number;
}

export interface NydusConvertOptions {
  /** chunk compression (default zstd, as nydusify) */
  compressor?: Extract<Compressor, 'zstd' | 'none' | 'lz4_block'>;
  /** default 1 MiB */
  chunkSize?: number;
  /** every chunk on a 4 KiB boundary in its blob: with compressor none a blob is the EROFS extra device itself */
  alignedChunk?: boolean;
  /**
   * nydusify --oci-ref (ZRAN): each blob layer is a RAFS blob (CI rows, inflate contexts, the
   * layer's bootstrap, a ToC) whose chunks point into the original gzip layer; needs `files`
   */
  ociRef?: boolean;
  /** the source layout, where --oci-ref reads the gzip layers (and copies them into the output) */
  files?: OciFiles;
  /** --oci-ref: largest tar a layer may inflate to (default OCI_REF_MAX_TAR); the builder holds the gzip layer and its tar in memory */
  maxRefTar?: number;
  /** the ref.name annotation of the manifest in index.json (default: the source's first tag) */
  ref?: string;
  onProgress?(p: NydusProgress): void;
  signal?: AbortSignal;
}

export interface NydusLayerResult {
  index: number;
  /** the blob layer's digest ("sha256:…"), = the blob id in the merged bootstrap */
  digest: string;
  size: number;
  /** chunks stored, content bytes of the layer */
  chunks: number;
  bytes: number;
  /** the layer's own bootstrap (also inlined in the blob) */
  bootstrapSize: number;
  /** false when the layer holds no file content: its blob is only `bootstrap [image.boot]` */
  hasData: boolean;
  /** --oci-ref: the original gzip layer's digest, which the chunks point into */
  ref?: string;
}

export interface NydusConvertResult {
  manifest: Descriptor;
  config: Descriptor;
  bootstrap: Descriptor & { bootstrapSize: number; diffId: string };
  layers: NydusLayerResult[];
  /** the merged bootstrap's blob table, in order (blob ids = layer digests without "sha256:") */
  blobIds: string[];
  notes: string[];
}

const enc = new TextEncoder();

/**
 * The nydus layers' blobs are streamed; their sha256 is computed on the way. `fromWriter`: a RAFS
 * blob writer's sink (rafs/builder/blob.ts WholeSha256Sink), which hashes nothing itself: the
 * writer already hashes every byte for the blob id (all but the digest array, §5.12) and hands over
 * its state of the whole file at the end, so the chunk data is hashed once, not twice (measured:
 * convertToNydus of the bench image, 512 MB of tars in 10 layers, compressor none, our JS SHA-256
 * as in the page, the previous commit and this one back to back: 5.60 → 3.92 CPU-s, medians of 3
 * on the shared 2-core machine, the 512 MB at ~310 MB/s; same manifest digest). `selfHash()`: the writer wrote nothing (a layer
 * without content), bytes written from now on are hashed here.
 */
function hashed(out: BlobOut, fromWriter = false): WholeSha256Sink & { size: number; digest(): string; selfHash(): void } {
  let h: Hasher | null = fromWriter ? null : hasherFor('sha256');
  let size = 0;
  return {
    get size() { return size; },
    async write(chunk) {
      // before the writer's state arrives, the bytes are the writer's own (it hashes them)
      h?.update(chunk);
      size += chunk.length;
      await out.write(chunk);
    },
    wholeSha256(w) {
      if (h) throw new Error('converter bug: a blob hashed twice');
      h = w;
    },
    selfHash() {
      if (h || size > 0) throw new Error('converter bug: the blob writer wrote bytes it did not hash');
      h = hasherFor('sha256');
    },
    digest: () => {
      if (!h) throw new Error('converter bug: the blob writer handed over no hash');
      return `sha256:${hex(h.digest())}`;
    },
  };
}

async function putBytes(sink: LayoutSink, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  const out = await sink.blob();
  const h = hashed(out);
  await h.write(bytes);
  const d = { digest: h.digest(), size: bytes.length };
  await out.commit(d.digest, d.size);
  return d;
}

function cloneDir(d: SourceInode): SourceInode {
  return { ...d, xattrs: [...d.xattrs], children: (d.children ?? []).map((c) => ({ ...c, inode: c.inode.type === 'dir' ? cloneDir(c.inode) : c.inode })) };
}

function child(dir: SourceInode | undefined, name: Uint8Array): SourceDirent | undefined {
  const k = binKey(name);
  return dir?.children?.find((c) => binKey(c.name) === k);
}

/**
 * The tree one layer's nydus blob is built from: the layer's own entries, whiteouts kept (the
 * merge applies them). Two things a tar layer leaves to the layers below, settled against them
 * here so the merged bootstrap shows what a container runtime shows: a directory the layer only
 * implies (a parent with no entry of its own) takes the attributes it has below, as containerd
 * keeps them; a hardlink to a file of a lower layer becomes that file's copy in this layer (RAFS
 * links only within a layer, as nydus-image's tar builder does).
 */
export function nydusLayerTree(layer: ReadLayer, below: SourceTree | null): SourceTree {
  const root = cloneDir(layer.tree.root);
  const fix = (dir: SourceInode, low: SourceInode | undefined, comps: Uint8Array[]): void => {
    if (low?.type === 'dir' && !layer.explicitDirs.has(pathKey(comps))) copyDirAttrs(dir, low);
    for (const c of dir.children ?? []) {
      if (c.inode.type !== 'dir') continue;
      const l = child(low, c.name)?.inode;
      fix(c.inode, l?.type === 'dir' ? l : undefined, [...comps, c.name]);
    }
  };
  fix(root, below?.root, []);
  const lookup = (t: SourceInode | undefined, comps: readonly Uint8Array[]): SourceInode | undefined => {
    let n = t;
    for (const c of comps) n = n?.type === 'dir' ? child(n, c)?.inode : undefined;
    return n;
  };
  for (const l of layer.lowerLinks) {
    const target = lookup(below?.root, l.target);
    // mergeLayers (run before this by loadOci) already refused links to nothing
    if (!target || target.type === 'dir') throw new UnsupportedError('nydus layer', `layer ${layer.ref.index}: a hardlink names no file of the layers below`);
    let dir = root;
    let low = below?.root;
    for (const c of l.comps.slice(0, -1)) {
      low = low?.type === 'dir' ? child(low, c)?.inode : undefined;
      let d = child(dir, c);
      if (!d) {
        const nd = newDir(0o755);
        if (low?.type === 'dir') copyDirAttrs(nd, low);
        d = { name: c, inode: nd };
        dir.children!.push(d);
      }
      dir = d.inode;
    }
    const name = l.comps[l.comps.length - 1]!;
    const k = binKey(name);
    dir.children = (dir.children ?? []).filter((c) => binKey(c.name) !== k);
    dir.children.push({ name, inode: target });
  }
  return { root, notes: [...layer.tree.notes] };
}

/** A tar of one directory and one file, as nydus-snapshotter packs the bootstrap (0755 dir, 0444 file). */
function bootstrapTar(boot: Uint8Array): Uint8Array {
  const none = new Uint8Array(0);
  const dirH = ustarHeader(enc.encode('image'), '5', 0o755, 0, 0, 0, 0, none, 0, 0);
  const fileH = ustarHeader(enc.encode(NYDUS.bootstrapPath), '0', 0o444, 0, 0, boot.length, 0, none, 0, 0);
  const pad = (TAR_BLOCK - (boot.length % TAR_BLOCK)) % TAR_BLOCK;
  const out = new Uint8Array(2 * TAR_BLOCK + boot.length + pad + 2 * TAR_BLOCK);
  out.set(dirH, 0);
  out.set(fileH, TAR_BLOCK);
  out.set(boot, 2 * TAR_BLOCK);
  return out;
}

/**
 * Convert a loaded image (loadOci: every blob checked, layers read) to a Nydus image written as an
 * OCI image layout through `sink`. On error or cancel the sink is aborted.
 */
export async function convertToNydus(img: LoadedOci, sink: LayoutSink, opts: NydusConvertOptions = {}): Promise<NydusConvertResult> {
  try {
    return await convert(img, sink, opts);
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

/**
 * Largest tar an --oci-ref layer may inflate to: rafs/builder/zran.ts holds the gzip layer and its
 * whole tar in memory (checkpoints need the inflated bytes before each boundary), so a bigger layer
 * is refused before anything is read rather than allocated.
 */
export const OCI_REF_MAX_TAR = 1 << 30;

/**
 * --oci-ref, as nydus-snapshotter's Pack (OCIRef) runs `nydus-image create --type targz-ref
 * --blob-inline-meta --features blob-toc` on each gzip layer: the blob layer is the RAFS blob (no
 * file data: chunks are ZRAN references into the gzip layer, blob id = the layer's digest), with the
 * layer's bootstrap inlined. nydus-image builds from the tar alone, so a layer whose hardlink names
 * a lower layer's file is refused (as by nydus-image), and a directory the tar only implies gets
 * the builder's default attributes, not the lower layer's.
 */
async function refLayers(img: LoadedOci, sink: LayoutSink, opts: NydusConvertOptions, total: number): Promise<{ results: NydusLayerResult[]; layerFs: RafsFs[]; done: number }> {
  const files = opts.files;
  if (!files) throw new UnsupportedError('nydus --oci-ref', 'the source layout is needed to read the gzip layers');
  const limit = opts.maxRefTar ?? OCI_REF_MAX_TAR;
  const n = img.layers.length;
  for (const l of img.layers) {
    const i = l.ref.index;
    if (l.compression !== 'gzip') throw new UnsupportedError('nydus --oci-ref', `layer ${i} is ${l.compression === 'none' ? 'an uncompressed tar' : l.compression}: OCI-ref (ZRAN) chunks point into gzip layers only`);
    if (l.uncompressedSize > limit) throw new UnsupportedError('nydus --oci-ref', `layer ${i} inflates to ${l.uncompressedSize} bytes, over the ${limit}-byte limit of the ZRAN builder (it holds the gzip layer and its tar in memory)`);
    if (l.lowerLinks.length > 0) throw new UnsupportedError('nydus --oci-ref', `layer ${i}: a hardlink names a file of a lower layer, which a targz-ref build of the layer's tar alone cannot link (convert without --oci-ref)`);
  }
  const results: NydusLayerResult[] = [];
  const layerFs: RafsFs[] = [];
  let done = 0;
  for (let i = 0; i < n; i++) {
    opts.signal?.throwIfAborted();
    const layer = img.layers[i]!;
    opts.onProgress?.({ stage: 'layer', layer: i, layers: n, bytes: done, total });
    const gzFile = await files.get(layer.ref.path);
    if (!gzFile) throw new OciError('missing-blob', 'oci.blob', `${files.name}: layer ${i} blob ${layer.ref.path} is not in the image`);
    // read once: the builder hashes these bytes for the blob id (checked against the layer digest
    // below), and the same bytes are copied out under that digest without hashing them again
    const gz = new BytesSource(await gzFile.read(0, gzFile.size), gzFile.name);
    const out = await sink.blob();
    const blob = hashed(out);
    const boot = new MemorySink();
    try {
      const r = await buildZranRafs(gz, { maxTarSize: limit, inlineMeta: true, ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}) }, { bootstrap: boot, meta: blob });
      const digest = blob.digest();
      await out.commit(digest, blob.size);
      if (`sha256:${r.blobId}` !== layer.blobDigest) throw new OciError('digest-mismatch', 'oci.blob', `layer ${i}: the gzip blob hashes to sha256:${r.blobId}, it was loaded as ${layer.blobDigest}`);
      const fs = await openRafs(new BytesSource(boot.bytes(), `layer ${i} bootstrap`), {});
      // nydus-image merge --blob-digests/--blob-sizes/--blob-toc-digests on a SEPARATE (ZRAN) blob:
      // the blob keeps the gzip layer's id, its meta is the pushed RAFS blob (digest, size, ToC digest;
      // nydusify passes no --blob-toc-sizes, so blob_toc_size stays the layer bootstrap's 0)
      if (r.chunks > 0) Object.assign(fs.blobs[0]!, { blobMetaDigest: fromHex(parseDigest(digest, 'oci.nydus').hex), blobMetaSize: blob.size, blobTocDigest: r.toc!.digest });
      layerFs.push(fs);
      results.push({ index: i, digest, size: blob.size, chunks: r.chunks, bytes: layer.entries.reduce((s, e) => s + e.size, 0), bootstrapSize: r.bootstrapSize, hasData: r.chunks > 0, ref: layer.blobDigest });
    } catch (e) {
      await out.abort();
      throw e;
    }
    // the chunks' data: the original gzip layer, copied as it is (nydusify leaves it in the registry);
    // its digest is the blob id the builder computed over these very bytes, checked above
    const copy = await sink.blob();
    try {
      for (let o = 0; o < gz.size; o += 8 << 20) await copy.write(gz.bytes.subarray(o, Math.min(gz.size, o + (8 << 20))));
      await copy.commit(layer.blobDigest, gz.size);
    } catch (e) {
      await copy.abort();
      throw e;
    }
    done += results[i]!.bytes;
    opts.onProgress?.({ stage: 'layer', layer: i, layers: n, bytes: done, total });
  }
  return { results, layerFs, done };
}

async function convert(img: LoadedOci, sink: LayoutSink, opts: NydusConvertOptions): Promise<NydusConvertResult> {
  if (opts.ociRef) return finish(img, sink, opts, await refLayers(img, sink, opts, totalBytes(img)), totalBytes(img));
  const compressor = opts.compressor ?? 'zstd';
  if (!['zstd', 'none', 'lz4_block'].includes(compressor)) throw new UnsupportedError('nydus compressor', `${String(compressor)} (zstd, none or lz4_block)`);
  const n = img.layers.length;
  const total = totalBytes(img);
  let done = 0;
  const layerFs: RafsFs[] = [];
  const results: NydusLayerResult[] = [];
  for (let i = 0; i < n; i++) {
    opts.signal?.throwIfAborted();
    const layer = img.layers[i]!;
    const below = i === 0 ? null : mergeLayers(img.layers.slice(0, i)).tree;
    const tree = nydusLayerTree(layer, below);
    const out = await sink.blob();
    const blob = hashed(out, true);
    const boot = new MemorySink();
    const base = done;
    opts.onProgress?.({ stage: 'layer', layer: i, layers: n, bytes: done, total });
    let r;
    try {
      r = await buildRafs(tree, {
        version: 6, compressor, ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}), alignedChunk: opts.alignedChunk ?? false,
        inlineBootstrap: true, whiteoutSpec: 'oci', ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (p) => opts.onProgress?.({ stage: 'layer', layer: i, layers: n, bytes: base + p.bytes, total }),
      }, { bootstrap: boot, blob });
      const bootBytes = boot.bytes();
      if (r.blobId === null) {
        // no file content: nothing was written to the blob; the layer still carries its bootstrap,
        // as a trailing [image.boot] section (§5.1)
        blob.selfHash();
        await blob.write(bootBytes);
        await blob.write(sectionTarHeader('image.boot', bootBytes.length));
      }
      const digest = blob.digest();
      await out.commit(digest, blob.size);
      results.push({ index: i, digest, size: blob.size, chunks: r.stats.chunksStored, bytes: r.stats.bytes, bootstrapSize: bootBytes.length, hasData: r.blobId !== null });
      layerFs.push(await openRafs(new BytesSource(bootBytes, `layer ${i} bootstrap`), {}));
    } catch (e) {
      await out.abort();
      throw e;
    }
    done = base + layer.entries.reduce((s, e) => s + e.size, 0);
  }
  return finish(img, sink, opts, { results, layerFs, done }, total);
}

function totalBytes(img: LoadedOci): number {
  let total = 0;
  for (const l of img.layers) for (const e of l.entries) total += e.size;
  return total;
}

/** The merged bootstrap layer, config, manifest and index after the blob layers. */
async function finish(img: LoadedOci, sink: LayoutSink, opts: NydusConvertOptions, built: { results: NydusLayerResult[]; layerFs: RafsFs[]; done: number }, total: number): Promise<NydusConvertResult> {
  const { results, layerFs, done } = built;
  const n = img.layers.length;
  const notes: string[] = [];
  opts.onProgress?.({ stage: 'merge', layer: n, layers: n, bytes: done, total });
  const merged = new MemorySink();
  const m = await mergeRafs(layerFs, {
    whiteoutSpec: 'oci', ...(opts.signal ? { signal: opts.signal } : {}),
    // --oci-ref: the blobs keep the gzip layers' ids (their RAFS blobs were named above)
    ...(opts.ociRef ? {} : { layerBlobs: results.map((l) => (l.hasData ? { id: l.digest.slice('sha256:'.length), size: l.size } : null)) }),
  }, merged);
  notes.push(...m.notes);
  const bootBytes = merged.bytes();
  const tar = bootstrapTar(bootBytes);
  const diffId = `sha256:${hex(hasherFor('sha256').update(tar).digest())}`;
  const gz = gzipCompress(tar);
  // MTIME 0 in the gzip header (RFC 1952 §2.3.1; Go's gzip writer leaves it 0 too): the same image
  // converts to the same layer digest
  gz.fill(0, 4, 8);
  const tgz = await putBytes(sink, gz);

  const layers: Descriptor[] = results.map((l) => ({
    mediaType: NYDUS.blobMediaType, digest: l.digest, size: l.size,
    annotations: { [NYDUS.blobAnnotation]: 'true', [NYDUS.uncompressedAnnotation]: l.digest, ...(l.ref ? { [NYDUS.refAnnotation]: l.ref } : {}) },
  }));
  const bootDesc: Descriptor = {
    mediaType: NYDUS.bootstrapMediaType, ...tgz,
    annotations: { [NYDUS.uncompressedAnnotation]: diffId, [NYDUS.bootstrapAnnotation]: 'true', [NYDUS.fsVersionAnnotation]: '6' },
  };
  layers.push(bootDesc);

  // the source config with the new layers' diff_ids; nydus-snapshotter appends one history entry
  const config = JSON.parse(JSON.stringify(img.image.config)) as ImageConfig;
  config.rootfs = { ...(config.rootfs ?? {}), type: 'layers', diff_ids: [...results.map((l) => l.digest), diffId] };
  if (config.history) config.history.push({ created_by: 'Nydus Converter', comment: 'Nydus Bootstrap Layer' });
  const configDesc: Descriptor = { mediaType: NYDUS.configMediaType, ...(await putBytes(sink, enc.encode(JSON.stringify(config)))) };
  const manifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers };
  const manifestDesc: Descriptor = { mediaType: MT.ociManifest, ...(await putBytes(sink, enc.encode(JSON.stringify(manifest)))) };
  const ref = opts.ref ?? img.image.refs[0];
  const indexEntry: Descriptor = {
    ...manifestDesc,
    ...(config.os && config.architecture ? { platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } } : {}),
    ...(ref ? { annotations: { 'org.opencontainers.image.ref.name': ref } } : {}),
  };
  await sink.file('oci-layout', enc.encode(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await sink.file('index.json', enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [indexEntry] })));
  await sink.close();
  opts.onProgress?.({ stage: 'done', layer: n, layers: n, bytes: done, total });
  return {
    manifest: manifestDesc, config: configDesc, bootstrap: { ...bootDesc, bootstrapSize: bootBytes.length, diffId }, layers: results, blobIds: m.blobIds, notes,
  };
}

/** Largest merged bootstrap taken out of a bootstrap layer (real ones are a few MiB). */
const MAX_BOOTSTRAP = 256 << 20;
const MAX_JSON = 4 << 20;

/**
 * A Nydus image written as an OCI layout (ours, or nydusify's pulled with skopeo) opened as the
 * filesystem it holds: the manifest's last layer annotated nydus-bootstrap gives image/image.boot,
 * the nydus-blob layers are the data blobs (named by their digests, which are the blob ids).
 * Manifest and bootstrap layer are checked against their digests; blobs are checked chunk by chunk
 * as they are read.
 */
export async function openNydusLayout(files: OciFiles, opts: { signal?: AbortSignal } = {}): Promise<RafsFs> {
  const json = async (path: string, digest: string | null, what: string): Promise<any> => {
    const f = await files.get(path);
    if (!f) throw new OciError('missing-blob', 'oci.nydus', `${files.name}: ${what} ${path} is not in the layout`);
    const bytes = await readVerified(f, digest ? parseDigest(digest, 'oci.nydus') : null, 'oci.nydus', MAX_JSON);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new OciError('bad-json', 'oci.nydus', `${files.name}: ${what}: ${(e as Error).message}`);
    }
  };
  const index = await json('index.json', null, 'index.json');
  const m0 = Array.isArray(index?.manifests) && index.manifests.length === 1 ? index.manifests[0] : null;
  if (!m0 || typeof m0.digest !== 'string') throw new OciError('no-manifest', 'oci.nydus', `${files.name}: index.json lists ${Array.isArray(index?.manifests) ? index.manifests.length : 'no'} manifests, one expected`);
  const manifest = await json(blobPath(parseDigest(m0.digest, 'oci.nydus')), m0.digest, 'manifest');
  const layers: Descriptor[] = Array.isArray(manifest?.layers) ? manifest.layers : [];
  const boot = layers.at(-1);
  if (!boot || boot.annotations?.[NYDUS.bootstrapAnnotation] !== 'true') throw new OciError('bad-json', 'oci.nydus', `${files.name}: the last layer is no nydus bootstrap layer (annotation ${NYDUS.bootstrapAnnotation})`);
  const bootDigest = parseDigest(boot.digest, 'oci.nydus');
  const bootBlob = await files.get(blobPath(bootDigest));
  if (!bootBlob) throw new OciError('missing-blob', 'oci.nydus', `${files.name}: bootstrap layer ${boot.digest} is not in the layout`);
  const tgz = await readVerified(bootBlob, bootDigest, 'oci.nydus', MAX_BOOTSTRAP);
  let image: Uint8Array | null = null;
  let total = 0;
  async function* bounded(): AsyncGenerator<Uint8Array> {
    for await (const c of gunzipChunks(new BytesSource(tgz, bootBlob!.name), opts.signal ? { signal: opts.signal } : {})) {
      total += c.length;
      if (total > MAX_BOOTSTRAP + (1 << 20)) throw new OciError('too-large', 'oci.nydus', `${files.name}: the bootstrap layer inflates to more than ${MAX_BOOTSTRAP} bytes`);
      yield c;
    }
  }
  for await (const rec of readTar(chunkInput(bounded(), `${boot.digest} (tar)`), opts.signal ? { signal: opts.signal } : {})) {
    if (new TextDecoder().decode(rec.entry.path).replace(/^\.\//, '') !== NYDUS.bootstrapPath || rec.entry.type !== 'reg') continue;
    const out = new Uint8Array(rec.entry.size);
    let o = 0;
    for await (const c of rec.content()) {
      out.set(c, o);
      o += c.length;
    }
    image = out;
    break;
  }
  if (!image) throw new OciError('missing-blob', 'oci.nydus', `${files.name}: the bootstrap layer holds no ${NYDUS.bootstrapPath}`);
  const blobs: ByteSource[] = [];
  for (const l of layers.slice(0, -1)) {
    if (l.annotations?.[NYDUS.blobAnnotation] !== 'true') continue;
    const d = parseDigest(l.digest, 'oci.nydus');
    const f = await files.get(blobPath(d));
    // a blob the layout lacks shows as a missing blob when a file needs it
    if (f) blobs.push(new SliceSource(f, 0, f.size, d.hex));
    // --oci-ref: the gzip layer the RAFS blob's chunks point into, when the layout holds it
    const ref = l.annotations?.[NYDUS.refAnnotation];
    if (typeof ref === 'string') {
      const r = parseDigest(ref, 'oci.nydus');
      const g = await files.get(blobPath(r));
      if (g) blobs.push(new SliceSource(g, 0, g.size, r.hex));
    }
  }
  return openRafs(new BytesSource(image, `${files.name}:${NYDUS.bootstrapPath}`), { blobs });
}
