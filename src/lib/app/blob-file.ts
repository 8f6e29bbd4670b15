// An output file collected into a Blob (the page's downloads; Blob is in Node too). Written parts
// are folded into the Blob every `foldAt` bytes, so the browser can page them out of the heap.
import type { OutputFile } from './build-layers.ts';

export class BlobFile implements OutputFile {
  private blob: Blob;
  private parts: Uint8Array<ArrayBuffer>[] = [];
  private pending = 0;
  constructor(readonly name: string, private readonly o: { signal?: AbortSignal; type?: string; foldAt?: number } = {}) {
    this.blob = new Blob([], { type: o.type ?? 'application/octet-stream' });
  }
  write(chunk: Uint8Array): void {
    this.o.signal?.throwIfAborted();
    // kept as it is, not copied: no `releases`, so the writer hands over chunks it does not reuse
    this.parts.push(chunk as Uint8Array<ArrayBuffer>);
    this.pending += chunk.length;
    if (this.pending >= (this.o.foldAt ?? 32 << 20)) this.fold();
  }
  private fold(): void {
    this.blob = new Blob([this.blob, ...this.parts], { type: this.o.type ?? 'application/octet-stream' });
    this.parts = [];
    this.pending = 0;
  }
  close(): void {
    this.fold();
  }
  abort(): void {
    this.parts = [];
    this.blob = new Blob([]);
  }
  /** everything written, as one Blob */
  finish(): Blob {
    this.fold();
    return this.blob;
  }
}
