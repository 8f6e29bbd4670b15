import { Gunzip } from 'fflate';
import { FormatError, IoError } from '../errors.ts';
import { checkRange, type ByteSource } from '../io/source.ts';

/**
 * Streaming gunzip of a random-access compressed source, yielding decompressed chunks. Uses the
 * platform's DecompressionStream('gzip') where present (faster in Chromium, checks CRC and length)
 * and fflate's streaming Gunzip otherwise. Both handle concatenated gzip members. fflate does not
 * check the trailer (here the length of a single-member stream is checked, not the CRC) and rejects
 * junk after the last member; an error raised after the last chunk
 * the caller asked for is never seen, so a tar reader that stops at its end-of-archive block is
 * not tripped by trailing zeros.
 */
export type GunzipImpl = 'auto' | 'native' | 'fflate';

export interface GunzipOptions {
  impl?: GunzipImpl;
  /** compressed bytes read from the source at a time (default 1 MiB) */
  readSize?: number;
  signal?: AbortSignal;
}

export function hasNativeGunzip(): boolean {
  return typeof (globalThis as { DecompressionStream?: unknown }).DecompressionStream === 'function';
}

export function gunzipChunks(src: ByteSource, opts: GunzipOptions = {}): AsyncGenerator<Uint8Array> {
  const impl = opts.impl ?? 'auto';
  const readSize = opts.readSize ?? 1 << 20;
  if (impl === 'native' || (impl === 'auto' && hasNativeGunzip())) return nativeGunzip(src, readSize, opts.signal);
  return fflateGunzip(src, readSize, opts.signal);
}

function gzipError(src: ByteSource, e: unknown): FormatError {
  return new FormatError('gzip', -1, `${src.name}: ${(e as Error)?.message ?? String(e)}`);
}

async function* nativeGunzip(src: ByteSource, readSize: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const ds = new DecompressionStream('gzip');
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let stop = false;
  let pumpError: unknown = undefined;
  // Writing and reading run concurrently: awaiting a write before reading would deadlock on
  // backpressure once the readable side's queue is full.
  const pump = (async () => {
    for (let off = 0; off < src.size && !stop; off += readSize) {
      signal?.throwIfAborted();
      const chunk = await src.read(off, Math.min(readSize, src.size - off));
      await writer.write(chunk as Uint8Array<ArrayBuffer>);
    }
    if (!stop) await writer.close();
  })();
  pump.catch((e) => {
    if (stop) return;
    pumpError = e;
    writer.abort(e).catch(() => {});
  });
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (pumpError !== undefined) throw pumpError;
        throw gzipError(src, e);
      }
      if (r.done) break;
      if (r.value.length) yield r.value;
    }
    if (pumpError !== undefined) throw pumpError;
  } finally {
    stop = true;
    reader.cancel().catch(() => {});
  }
}

async function* fflateGunzip(src: ByteSource, readSize: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  let complete = false;
  let total = 0;
  let members = 1;
  const g = new Gunzip((data, final) => {
    if (data.length) out.push(data);
    total += data.length;
    if (final) complete = true;
  });
  g.onmember = () => void members++;
  if (src.size === 0) throw gzipError(src, new Error('empty input'));
  for (let off = 0; off < src.size; off += readSize) {
    signal?.throwIfAborted();
    const len = Math.min(readSize, src.size - off);
    const chunk = await src.read(off, len);
    let err: FormatError | null = null;
    try {
      g.push(chunk, off + len === src.size);
    } catch (e) {
      err = gzipError(src, e);
    }
    // hand out what was decoded before any error, so a caller that is done never sees it
    for (let i = 0; i < out.length; i++) yield out[i]!;
    out.length = 0;
    if (err) throw err;
  }
  // fflate checks neither the trailer nor, always, an input that stops early: check ISIZE (the
  // length mod 2^32) of a single-member stream, the common case
  if (!complete || src.size < 18) throw gzipError(src, new Error('unexpected end of the compressed data (truncated)'));
  if (members === 1) {
    const t = await src.read(src.size - 4, 4);
    const isize = (t[0]! | (t[1]! << 8) | (t[2]! << 16) | (t[3]! << 24)) >>> 0;
    if (isize !== total % 2 ** 32) throw gzipError(src, new Error(`the trailer gives a length of ${isize} bytes, ${total} were decompressed (truncated or damaged)`));
  }
}

/**
 * Random access into a gzip stream's decompressed bytes by decompressing again from the start.
 * One cursor is shared by every reader and reads are serialised: reading ranges in increasing
 * order costs one pass; a read behind the cursor restarts from the beginning (counted in
 * `restarts`). Only the current decompressed chunk is held.
 */
export class GunzipReplay {
  restarts = 0;
  private gen: AsyncGenerator<Uint8Array> | null = null;
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkAt = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly src: ByteSource, readonly opts: GunzipOptions = {}) {}

  read(offset: number, length: number): Promise<Uint8Array> {
    const p = this.queue.then(() => this.readNow(offset, length));
    this.queue = p.catch(() => {});
    return p;
  }

  private async readNow(offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    if (!this.gen || offset < this.chunkAt) {
      if (this.gen) {
        this.restarts++;
        await this.gen.return(undefined);
      }
      this.gen = gunzipChunks(this.src, this.opts);
      this.chunk = new Uint8Array(0);
      this.chunkAt = 0;
    }
    // the whole range inside the current chunk: a view, no copy
    const advance = async (): Promise<void> => {
      this.chunkAt += this.chunk.length;
      const r = await this.gen!.next();
      if (r.done) {
        this.chunk = new Uint8Array(0);
        this.gen = null;
        throw new IoError(this.src.name, `decompressed stream ended at ${this.chunkAt}, before byte ${offset + length}`);
      }
      this.chunk = r.value;
    };
    while (offset >= this.chunkAt + this.chunk.length) await advance();
    if (offset + length <= this.chunkAt + this.chunk.length) {
      return this.chunk.subarray(offset - this.chunkAt, offset - this.chunkAt + length);
    }
    const out = new Uint8Array(length);
    let done = 0;
    for (;;) {
      const from = offset + done - this.chunkAt;
      const n = Math.min(length - done, this.chunk.length - from);
      out.set(this.chunk.subarray(from, from + n), done);
      done += n;
      if (done === length) return out;
      await advance();
    }
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.gen) await this.gen.return(undefined);
    this.gen = null;
  }
}

/** A window of a GunzipReplay as a ByteSource (one file's content in a .tar.gz). */
export class GunzipRangeSource implements ByteSource {
  constructor(readonly replay: GunzipReplay, readonly start: number, readonly size: number, readonly name: string) {}
  read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.replay.read(this.start + offset, length);
  }
}
