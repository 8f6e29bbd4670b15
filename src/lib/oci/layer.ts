// One layer read in one pass over its blob: the compressed bytes hashed (the blob digest), the
// decompressed stream hashed (the config's diff_id) while the tar reader walks it, every name
// checked, and each file's content kept where it can be read again (a window of the blob for an
// uncompressed layer; memory, then the caller's spill store, for a compressed one).
import { Decompress } from 'fzstd';
import { hex } from '../bytes.ts';
import { FormatError, UnsupportedError } from '../errors.ts';
import { BytesSource, chunksOf, SliceSource, type ByteSource } from '../io/source.ts';
import { GunzipRangeSource, GunzipReplay, gunzipChunks } from '../tar/gunzip.ts';
import { chunkInput, readTar, type TarEntryType, type TarInput } from '../tar/reader.ts';
import { tarTreeBuilder, type ContentSpill } from '../fs/sources/tar.ts';
import { binKey } from '../bytes.ts';
import { showBytes, splitRawPath, unsafeComponent } from '../fs/sources/names.ts';
import type { SourceTree } from '../fs/tree.ts';
import { WHITEOUT_PREFIX_BYTES, OPAQUE_WHITEOUT_BYTES } from '../fs/whiteout.ts';
import { bytesEqual, utf8 } from '../fs/types.ts';
import { startsWith } from '../bytes.ts';
import { checkDigest, digestText, hasherFor, type Digest } from './digest.ts';
import { OciError } from './errors.ts';
import type { LayerRef } from './image.ts';
import { sniffCompression, type Compression } from './types.ts';

/** One tar entry as the views need it (dive's trees, the per-layer changes). */
export interface LayerEntry {
  /** path components, raw bytes ("./" and "//" dropped) */
  comps: Uint8Array[];
  type: TarEntryType;
  /** the header's size: content bytes of a regular file, 0 for everything else */
  size: number;
  /** a `.wh.NAME` entry (not the opaque marker) */
  whiteout: boolean;
  /** a `.wh..wh..opq` entry */
  opaque: boolean;
}

/** A hardlink whose target is not in this layer: it names a file of the layers below. */
export interface LowerLink {
  comps: Uint8Array[];
  target: Uint8Array[];
}

export interface ReadLayer {
  ref: LayerRef;
  compression: Compression;
  /** the layer's own tree (whiteouts kept as entries) */
  tree: SourceTree;
  entries: LayerEntry[];
  /** keys (see pathKey) of directories the layer has an entry for; the others were created as parents */
  explicitDirs: Set<string>;
  lowerLinks: LowerLink[];
  uncompressedSize: number;
  /** the uncompressed tar's digest, checked equal to ref.diffId */
  diffId: string;
  /** the blob's digest (checked equal to ref.digest when it has one) */
  blobDigest: string;
}

/** Where a compressed layer's file content goes: memory up to a budget shared by all layers, then `spill`. */
export interface LayerReadOptions {
  spill?: ContentSpill;
  /** bytes of content still allowed in memory, decreased as layers are read (default 256 MiB for the image) */
  memory?: { left: number };
  /** files larger than this never go to memory (default 8 MiB) */
  maxMemoryFile?: number;
  /** most uncompressed bytes one layer may decode to (default 64 GiB): stops a decompression bomb */
  maxUncompressed?: number;
  /** false: file content is not kept (views that list and measure, never read) */
  content?: boolean;
  signal?: AbortSignal;
}

/** A path's key in maps: components as binary strings joined with "/" (no component holds one). */
export function pathKey(comps: readonly Uint8Array[]): string {
  return comps.map(binKey).join('/');
}

const READ = 1 << 20;
/** bytes a layer may hold after its end-of-archive blocks (GNU tar pads to 10 KiB records) */
const MAX_TRAILING = 1 << 20;

/** The blob read start to end, hashed as it goes by. */
function hashingSource(src: ByteSource, hasher: { update(b: Uint8Array): unknown }): ByteSource & { pos: number } {
  const s = {
    name: src.name, size: src.size, pos: 0,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const b = await src.read(offset, length);
      // the decompressors read in order; anything else is hashed by the catch-up after the pass
      if (offset === s.pos) {
        hasher.update(b);
        s.pos += b.length;
      }
      return b;
    },
  };
  return s;
}


/**
 * zstd as a stream of unknown length: fzstd's streaming decoder (our own decoder wants the output
 * size first, which a layer's frame does not give: skopeo and containerd write it as a stream).
 */
async function* zstdChunks(raw: AsyncIterable<Uint8Array>, name: string): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  // the decoder reuses its window: every piece is copied before the next push
  const d = new Decompress((chunk) => void out.push(chunk.slice()));
  let prev: Uint8Array | null = null;
  const push = (b: Uint8Array, final: boolean): void => {
    try {
      d.push(b, final);
    } catch (e) {
      throw new FormatError('oci.layer', -1, `${name}: zstd: ${(e as Error).message}`);
    }
  };
  for await (const b of raw) {
    if (prev) push(prev, false);
    prev = b;
    yield* out.splice(0);
  }
  push(prev ?? new Uint8Array(0), true);
  yield* out.splice(0);
}

/** A layer blob's uncompressed tar bytes, as a stream (gzip, zstd or none, as sniffed). */
export function uncompressedLayer(blob: ByteSource, compression: Compression, name: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  if (compression === 'gzip') return gunzipChunks(blob, signal ? { signal } : {});
  if (compression === 'zstd') return zstdChunks(chunksOf(blob, READ, signal), name);
  return chunksOf(blob, READ, signal);
}

async function* counted(chunks: AsyncIterable<Uint8Array>, hasher: { update(b: Uint8Array): unknown }, st: { n: number }, max: number, name: string): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    st.n += c.length;
    if (st.n > max) throw new OciError('too-large', 'oci.layer', `${name}: decompresses to more than ${max} bytes`);
    hasher.update(c);
    yield c;
  }
}

const WH = WHITEOUT_PREFIX_BYTES;
const OPQ = OPAQUE_WHITEOUT_BYTES;

/** The components of an entry's path, or an unsafe-name OciError (absolute, ".."). */
function entryComps(raw: Uint8Array, layer: string, offset: number, what: string): Uint8Array[] {
  if (raw[0] === 0x2f) throw new OciError('unsafe-name', 'oci.layer', `${layer}: ${what} ${showBytes(raw)} is absolute`, offset);
  const comps = splitRawPath(raw);
  for (const c of comps) {
    const why = unsafeComponent(c);
    if (why) throw new OciError('unsafe-name', 'oci.layer', `${layer}: ${what} ${showBytes(raw)}: component ${why} (refused: it would leave the image's root)`, offset);
  }
  return comps;
}

export async function readLayer(blob: ByteSource, ref: LayerRef, opts: LayerReadOptions = {}): Promise<ReadLayer> {
  const label = `layer ${ref.index} (${ref.digest ? digestText(ref.digest) : ref.path})`;
  if (ref.digest === null && blob.size === 0) throw new OciError('missing-blob', 'oci.layer', `${label}: empty`);
  const head = await blob.read(0, Math.min(4, blob.size));
  const sniffed = sniffCompression(head);
  if (ref.compression !== null && ref.compression !== sniffed) {
    throw new OciError('bad-json', 'oci.layer', `${label}: the media type ${ref.mediaType} says ${ref.compression}, the bytes are ${sniffed === 'none' ? 'no gzip or zstd stream' : sniffed}`);
  }
  const compression = sniffed;
  const blobAlg: Digest['alg'] = ref.digest?.alg ?? 'sha256';
  const blobHash = hasherFor(blobAlg);
  const diffHash = hasherFor(ref.diffId.alg);
  const hsrc = hashingSource(blob, blobHash);
  const stat = { n: 0 };
  const max = opts.maxUncompressed ?? 64 * 2 ** 30;
  let decoded: AsyncIterable<Uint8Array>;
  if (compression === 'gzip') decoded = gunzipChunks(hsrc, opts.signal ? { signal: opts.signal } : {});
  else if (compression === 'zstd') decoded = zstdChunks(chunksOf(hsrc, READ, opts.signal), label);
  else decoded = chunksOf(hsrc, READ, opts.signal);
  const inner = chunkInput(counted(decoded, diffHash, stat, max, label), label);
  // the tar reader closes its input at the end-of-archive blocks; the rest (padding zeros) is part
  // of the diff_id, so the input stays open (no close here) and is drained after
  const input: TarInput = { name: inner.name, size: -1, read: (n) => inner.read(n), skip: (n) => inner.skip(n) };

  const memory = opts.memory ?? { left: 256 << 20 };
  const maxFile = opts.maxMemoryFile ?? 8 << 20;
  const b = tarTreeBuilder(label);
  const entries: LayerEntry[] = [];
  const explicitDirs = new Set<string>();
  const lowerLinks: LowerLink[] = [];
  const present = new Set<string>();
  const notes: string[] = [];
  let replay: GunzipReplay | null = null;
  try {
    // umoci 0.4.7's `insert` ends its tar right after the last file's content: the tar reader's
    // one rule for that (tar/reader.ts unpaddedEnd) takes it, with a note
    const onUnpaddedEnd = (): void => {
      notes.push(`${label}: the tar stops after its last file's content (no padding or end-of-archive blocks), as umoci 0.4.7 insert writes it`);
    };
    for await (const rec of readTar(input, { onUnpaddedEnd, ...(opts.signal ? { signal: opts.signal } : {}) })) {
      const e = rec.entry;
      const comps = entryComps(e.path, label, e.headerOffset, 'path');
      const name = comps[comps.length - 1];
      const opaque = !!name && bytesEqual(name, OPQ);
      entries.push({ comps, type: e.type, size: e.type === 'reg' ? e.size : 0, whiteout: !!name && !opaque && startsWith(name, WH), opaque });
      const key = pathKey(comps);
      if (e.type === 'hardlink') {
        const target = entryComps(e.linkname, label, e.headerOffset, 'hardlink target');
        if (!present.has(pathKey(target))) {
          lowerLinks.push({ comps, target });
          continue;
        }
        present.add(key);
        b.add(e);
        continue;
      }
      present.add(key);
      if (e.type === 'dir') explicitDirs.add(key);
      if (e.type !== 'reg') {
        b.add(e);
        continue;
      }
      if (opts.content === false) {
        b.add(e);
        continue;
      }
      let content: ByteSource;
      const cname = `${label}:${comps.map(utf8).join('/')}`;
      if (compression === 'none') content = new SliceSource(blob, e.dataOffset, e.size, cname);
      else if (e.size <= maxFile && e.size <= memory.left) {
        const buf = new Uint8Array(e.size);
        let o = 0;
        for await (const c of rec.content()) {
          buf.set(c, o);
          o += c.length;
        }
        memory.left -= e.size;
        content = new BytesSource(buf, cname);
      } else if (opts.spill) content = await opts.spill.store(e.size, rec.content(), cname);
      else if (compression === 'gzip') {
        replay ??= new GunzipReplay(blob);
        content = new GunzipRangeSource(replay, e.dataOffset, e.size, cname);
      } else {
        throw new UnsupportedError('oci zstd layer', `${cname}: ${e.size} bytes of content beyond the memory budget, and no spill store to put them in`);
      }
      b.add(e, content);
    }
    // drain: the diff_id covers every byte. Tar writers end with two zero blocks and at most a
    // 10 KiB record of padding (GNU tar); megabytes after the end are a decompression bomb behind a
    // tiny archive, stopped here rather than decompressed and hashed up to maxUncompressed
    const end = stat.n;
    while ((await inner.skip(READ)) > 0) {
      if (stat.n - end > MAX_TRAILING) throw new OciError('too-large', 'oci.layer', `${label}: more than ${MAX_TRAILING} bytes after the tar's end-of-archive blocks`, end);
    }
  } catch (e) {
    // a damaged blob shows first as a bad tar header or gzip stream; its digest says why
    if (e instanceof FormatError && ref.digest) await damagedBlob(blob, ref.digest, label, e);
    throw e;
  } finally {
    await inner.close?.();
  }
  // what the decompressor did not read in order (nothing, normally) is hashed now
  for (let off = hsrc.pos; off < blob.size; off += READ) blobHash.update(await blob.read(off, Math.min(READ, blob.size - off)));
  const blobDigest = hex(blobHash.digest());
  const diffId = hex(diffHash.digest());
  if (ref.digest) checkDigest(ref.digest, blobDigest, 'oci.blob', `${label} blob`);
  if (diffId !== ref.diffId.hex) {
    throw new OciError('diff-id-mismatch', 'oci.layer', `${label}: the uncompressed tar hashes to ${ref.diffId.alg}:${diffId}, the config's rootfs.diff_ids says ${digestText(ref.diffId)}`);
  }
  const tree = b.finish();
  tree.notes.push(...notes);
  return {
    ref, compression, tree, entries, explicitDirs, lowerLinks, uncompressedSize: stat.n,
    diffId: `${ref.diffId.alg}:${diffId}`, blobDigest: `${blobAlg}:${blobDigest}`,
  };
}

/** Throws a digest-mismatch OciError (naming `cause`) when the blob's bytes are not the ones its digest names. */
async function damagedBlob(blob: ByteSource, want: Digest, label: string, cause: FormatError): Promise<void> {
  const h = hasherFor(want.alg);
  for await (const b of chunksOf(blob, READ)) h.update(b);
  const got = hex(h.digest());
  if (got !== want.hex) throw new OciError('digest-mismatch', 'oci.blob', `${label} blob: its bytes hash to ${want.alg}:${got}, not ${digestText(want)} (reading it stopped at: ${cause.message})`);
}
