/**
 * The byte stream every image writer emits through. A writer first computes its whole layout
 * (every offset, block address and size), then emits the image front to back through one `Output`;
 * nothing is ever patched after it was emitted. `CountingOutput` runs the same emission code
 * without storing anything (the measuring pass: image size, or a check of the layout), and
 * `StreamOutput` hands the bytes to a `Sink` in large chunks so a page can stream to a file.
 */

/** Where image bytes go: each chunk is handed over once and never touched again by the writer. */
export interface Sink {
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * The sink keeps no reference to a chunk once `write` has returned (or its promise resolved),
   * e.g. a synchronous write(2): the output may then fill the same buffer again.
   */
  readonly releases?: boolean;
}

export interface Output {
  /** bytes emitted so far = absolute offset of the next byte */
  readonly pos: number;
  bytes(b: Uint8Array): void;
  /**
   * Like `bytes`, but `b` itself may be handed to the sink: the caller gives it up (file content
   * read for this write only). Saves copying every content byte once more.
   */
  give?(b: Uint8Array): void;
  /**
   * `len` bytes that `read(dest, off)` puts straight into the output's buffers (`dest` receives
   * bytes off..off+dest.length of the piece), saving a buffer and a copy per read.
   */
  into?(len: number, read: (dest: Uint8Array, off: number) => void): void;
  /** `n` copies of `byte` (0 unless given) */
  fill(n: number, byte?: number): void;
  /** zero bytes up to absolute offset `to` (which must not be behind `pos`) */
  padTo(to: number): void;
  /** let queued chunks reach the sink; writers call this between pieces, never inside a structure */
  drain(): Promise<void>;
}

abstract class BaseOutput implements Output {
  abstract readonly pos: number;
  abstract bytes(b: Uint8Array): void;
  abstract fill(n: number, byte?: number): void;
  padTo(to: number): void {
    if (to < this.pos) throw new Error(`writer bug: padding back from ${this.pos} to ${to}`);
    this.fill(to - this.pos);
  }
  async drain(): Promise<void> {}
}

/** The measuring pass: counts bytes, stores nothing. */
export class CountingOutput extends BaseOutput {
  pos = 0;
  bytes(b: Uint8Array): void {
    this.pos += b.length;
  }
  fill(n: number): void {
    if (n < 0) throw new Error(`writer bug: negative fill ${n}`);
    this.pos += n;
  }
}

const DEFAULT_CHUNK = 1 << 20;

/**
 * Collects bytes into `chunkSize` buffers and passes each full one to `tap` (e.g. an fs-verity
 * hasher), then to the sink, in order. Sink writes run behind the writer: `drain` only waits when
 * more than `inFlight` bytes are queued or being written, `finish` waits for all of them.
 */
export class StreamOutput extends BaseOutput {
  pos = 0;
  private buf: Uint8Array;
  private used = 0;
  private readonly chunkSize: number;
  private readonly tap: ((chunk: Uint8Array) => void | Promise<void>) | undefined;
  private readonly maxInFlight: number;
  private inFlight = 0;
  /** the chain of tap + sink writes, in order */
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown = null;
  /** written full chunks, zeroed again, to fill next when the sink releases them (`Sink.releases`) */
  private readonly free: Uint8Array[] = [];
  private readonly recycle: boolean;

  constructor(
    private readonly sink: Sink,
    opts: { chunkSize?: number; tap?: (chunk: Uint8Array) => void | Promise<void>; inFlight?: number } = {},
  ) {
    super();
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
    this.tap = opts.tap;
    this.maxInFlight = opts.inFlight ?? 16 * this.chunkSize;
    this.buf = new Uint8Array(this.chunkSize);
    // reusing written chunks spares a fresh zeroed 1 MiB (page faults, GC) per MiB of image; with
    // a tap (fs-verity hashing) chunks are left alone
    this.recycle = sink.releases === true && !this.tap;
  }

  private flushBuf(): void {
    if (this.used === 0) return;
    let chunk: Uint8Array;
    if (this.used === this.buf.length) {
      chunk = this.buf;
      this.buf = this.free.pop() ?? new Uint8Array(this.chunkSize);
    } else {
      // a partial buffer (before a given piece) is copied out and reused: fills rely on zeros
      chunk = this.buf.slice(0, this.used);
      this.buf.fill(0, 0, this.used);
    }
    this.used = 0;
    this.enqueue(chunk, chunk.length === this.chunkSize);
  }

  private enqueue(chunk: Uint8Array, own = false): void {
    this.inFlight += chunk.length;
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        if (this.tap) await this.tap(chunk);
        await this.sink.write(chunk);
      } catch (e) {
        this.failed = e;
      } finally {
        this.inFlight -= chunk.length;
        // as many as can be in flight (drain lets inFlight pass maxInFlight by one piece)
        if (own && this.recycle && this.free.length * this.chunkSize <= this.maxInFlight) this.free.push(chunk.fill(0));
      }
    });
  }

  bytes(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      const n = Math.min(b.length - off, this.buf.length - this.used);
      this.buf.set(n === b.length ? b : b.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
      if (this.used === this.buf.length) this.flushBuf();
    }
    this.pos += b.length;
  }

  give(b: Uint8Array): void {
    // small pieces are cheaper to copy than to send alone
    if (b.length < this.chunkSize / 8) return this.bytes(b);
    this.flushBuf();
    this.enqueue(b);
    this.pos += b.length;
  }

  into(len: number, read: (dest: Uint8Array, off: number) => void): void {
    let off = 0;
    while (off < len) {
      const n = Math.min(len - off, this.buf.length - this.used);
      read(this.buf.subarray(this.used, this.used + n), off);
      this.used += n;
      off += n;
      if (this.used === this.buf.length) this.flushBuf();
    }
    this.pos += len;
  }

  fill(n: number, byte = 0): void {
    if (n < 0) throw new Error(`writer bug: negative fill ${n}`);
    let left = n;
    while (left > 0) {
      const k = Math.min(left, this.buf.length - this.used);
      // fresh buffers are zero: only non-zero fills need writing
      if (byte !== 0) this.buf.fill(byte, this.used, this.used + k);
      this.used += k;
      left -= k;
      if (this.used === this.buf.length) this.flushBuf();
    }
    this.pos += n;
  }

  override async drain(): Promise<void> {
    if (this.inFlight > this.maxInFlight) await this.chain;
    if (this.failed) throw this.failed;
  }

  /** flush the partial buffer and wait for every write */
  async finish(): Promise<void> {
    this.flushBuf();
    await this.chain;
    if (this.failed) throw this.failed;
  }
}

/**
 * The two passes over one emitter: a counting pass checks the size the layout promised, then the
 * same emitter streams to `sink`. `what` names the structure in the writer-bug message.
 */
export async function measureThenWrite(emit: (out: Output) => void, size: number, sink: Sink, what: string): Promise<void> {
  const count = new CountingOutput();
  emit(count);
  if (count.pos !== size) throw new Error(`writer bug: ${what} measured ${count.pos} bytes, laid out ${size}`);
  const out = new StreamOutput(sink);
  emit(out);
  await out.finish();
}

/** A sink that keeps everything, for tests and small images. */
export class MemorySink implements Sink {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  write(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }
  bytes(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/**
 * A writer's emission left the layout it planned: a structure starts or ends at another byte than
 * the plan put it (and the nids and block addresses written elsewhere in the image point to). A
 * bug in the writer, never bad input: the build stops at the first such position.
 */
export class LayoutError extends Error {
  override readonly name = 'LayoutError';
  constructor(
    readonly writer: string,
    /** what was to start or end there, e.g. 'inode 7 (nid 40, "/a/b"): xattr area end' */
    readonly what: string,
    /** the absolute image offset the plan recorded */
    readonly planned: number,
    /** the absolute offset emission reached instead */
    readonly emitted: number,
  ) {
    super(`${writer} writer bug: ${what} planned at byte ${planned}, emitted at byte ${emitted}`);
  }
}

/**
 * The writing pass's check against the plan: the next byte `out` emits must be the one the plan
 * recorded for `what` (a function, so the message is built only on failure). Writers call it at
 * every structure boundary (inode, xattr area and entry, inline tail, shared xattr, data block),
 * and pad only from a checked end to the next planned start, so a gap or an overlap between plan
 * and emission fails the build where it happens instead of being padded over.
 */
export function expectAt(out: Output, planned: number, writer: string, what: () => string): void {
  if (out.pos !== planned) throw new LayoutError(writer, what(), planned, out.pos);
}

export { alignUp as roundUp } from '../bytes.ts';
