import { IoError } from '../errors.ts';

/**
 * Random-access bytes: a File slice, an in-memory buffer, a Node file or an HTTP resource.
 * `read` returns exactly `length` bytes or throws IoError; callers never see a short read.
 * The returned array may be a view into a cache: treat it as read-only.
 */
export interface ByteSource {
  readonly size: number;
  /** for messages: a file name or URL */
  readonly name: string;
  /** a local file holding exactly these bytes, which another thread may open itself */
  readonly path?: string;
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Exactly `dest.length` bytes from `offset` into `dest`: lets a bulk copy reuse one buffer
   * instead of allocating (and page-faulting) a fresh one per read. Optional; see `readInto`.
   */
  readInto?(offset: number, dest: Uint8Array): Promise<void>;
  /**
   * readInto without waiting, for a source that can (a local file in a CLI): a cache in front
   * answers misses at once, and a metadata walk makes tens of thousands of them. Optional.
   */
  readIntoSync?(offset: number, dest: Uint8Array): void;
  close?(): Promise<void>;
}

/** The whole source, start to end, in reads of `piece` bytes (a stream for a decompressor, a hash, a parser). */
export async function* chunksOf(src: ByteSource, piece = 1 << 20, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < src.size; off += piece) {
    signal?.throwIfAborted();
    yield src.read(off, Math.min(piece, src.size - off));
  }
}

/** `src.readInto` where the source has it, else a read and a copy. */
export function readInto(src: ByteSource, offset: number, dest: Uint8Array): Promise<void> {
  if (src.readInto) return src.readInto(offset, dest);
  return src.read(offset, dest.length).then((b) => { dest.set(b); });
}

export function checkRange(src: { size: number; name: string }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new IoError(src.name, `read of ${length} bytes at ${offset} is outside the ${src.size}-byte source`);
  }
}

export class BytesSource implements ByteSource {
  readonly size: number;
  constructor(readonly bytes: Uint8Array, readonly name = 'memory') {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** File or Blob: slicing is lazy, only the bytes asked for are read. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(readonly blob: Blob, name?: string) {
    this.size = blob.size;
    this.name = name ?? ((blob as File).name || 'blob');
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const buf = new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
    if (buf.length !== length) throw new IoError(this.name, `short read: ${buf.length} of ${length} bytes at ${offset}`);
    return buf;
  }
}

/** A window [start, start+size) of another source, e.g. a bootstrap inlined in a blob. */
export class SliceSource implements ByteSource {
  constructor(readonly inner: ByteSource, readonly start: number, readonly size: number, readonly name = `${inner.name}[${start}+${size}]`) {
    checkRange(inner, start, size);
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.inner.read(this.start + offset, length);
  }
  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    checkRange(this, offset, dest.length);
    return readInto(this.inner, this.start + offset, dest);
  }
}
