// A File/Blob read front to back through Blob.stream() instead of one slice() per read: in
// Chromium, sliced reads of dropped files run at ~135 MB/s on the bench VM, the stream at ~200
// (bench/build-browser.ts prints both). Builders read each file's content in order, so a read
// at the stream's position continues the stream; any other read falls back to a slice. Reads are
// served one at a time (a read-ahead of the next piece waits for the current one).
import { IoError } from '../errors.ts';
import { BlobSource, checkRange, type ByteSource } from '../io/source.ts';

export class StreamingBlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private readonly sliced: BlobSource;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  /** offset of the next stream byte (the first byte of `pending`) */
  private pos = 0;
  private pending: Uint8Array = new Uint8Array(0);
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly blob: Blob, name?: string) {
    this.size = blob.size;
    this.name = name ?? ((blob as File).name || 'blob');
    this.sliced = new BlobSource(blob, this.name);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const p = this.chain.then(() => this.readNow(offset, length));
    this.chain = p.catch(() => {});
    return p;
  }

  private async readNow(offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    if (this.reader && offset === this.pos) return this.take(length);
    if (offset === 0) {
      void this.reader?.cancel().catch(() => {});
      this.reader = this.blob.stream().getReader();
      this.pos = 0;
      this.pending = new Uint8Array(0);
      return this.take(length);
    }
    return this.sliced.read(offset, length);
  }

  private async take(length: number): Promise<Uint8Array> {
    const reader = this.reader!;
    if (this.pending.length === 0) await this.pull(reader);
    let out: Uint8Array;
    if (this.pending.length >= length) {
      out = this.pending.subarray(0, length);
      this.pending = this.pending.subarray(length);
    } else {
      out = new Uint8Array(length);
      let o = 0;
      while (o < length) {
        if (this.pending.length === 0) await this.pull(reader);
        const n = Math.min(length - o, this.pending.length);
        out.set(this.pending.subarray(0, n), o);
        this.pending = this.pending.subarray(n);
        o += n;
      }
    }
    this.pos += length;
    if (this.pos >= this.size) {
      this.reader = null;
      this.pending = new Uint8Array(0);
      void reader.cancel().catch(() => {});
    }
    return out;
  }

  private async pull(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const { done, value } = await reader.read();
    if (done || !value) throw new IoError(this.name, `stream ended at ${this.pos} of ${this.size} bytes (was the file changed?)`);
    this.pending = value;
  }
}

/** Give every regular file of a browser tree (BlobSource content) a streaming source instead. */
export function streamBlobContents(root: { type: string; content?: ByteSource; children?: { inode: unknown }[] }): number {
  let n = 0;
  const stack = [root];
  const seen = new Set<unknown>();
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x)) continue;
    seen.add(x);
    for (const c of x.children ?? []) stack.push(c.inode as typeof root);
    if (x.type === 'reg' && x.content instanceof BlobSource) {
      x.content = new StreamingBlobSource(x.content.blob, x.content.name);
      n++;
    }
  }
  return n;
}
