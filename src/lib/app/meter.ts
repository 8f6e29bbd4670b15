// Progress and cancel for builders that take neither: every content read goes through a meter.
import { inodesOf, type SourceInode, type SourceTree } from '../fs/tree.ts';
import type { ByteSource } from '../io/source.ts';


export interface ReadMeter {
  /** content bytes read so far (all passes) */
  bytes: number;
  /** regular files read to their end at least once */
  files: number;
  signal: AbortSignal;
  /** called after reads, at most every `every` ms */
  tick(): void | Promise<void>;
}

const perInode = new WeakMap<ByteSource, number>();

/**
 * `inner` counted into `meter`. Every read first checks the abort signal, and every ~50 ms gives
 * the worker's event loop a turn (a setTimeout), so a cancel message is heard even when all reads
 * are served from memory (they then resolve as microtasks only).
 */
export class MeteredSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(readonly inner: ByteSource, private readonly meter: ReadMeter & { lastYield: number }) {
    this.size = inner.size;
    this.name = inner.name;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.meter.signal.throwIfAborted();
    const b = await this.inner.read(offset, length);
    this.meter.signal.throwIfAborted();
    this.meter.bytes += length;
    const done = (perInode.get(this) ?? 0) + length;
    perInode.set(this, done);
    if (done >= this.size && done - length < this.size) this.meter.files++;
    const now = performance.now();
    if (now - this.meter.lastYield > 50) {
      this.meter.lastYield = now;
      await this.meter.tick();
      await new Promise((r) => setTimeout(r, 0));
      this.meter.signal.throwIfAborted();
    }
    return b;
  }
}

export function newMeter(signal: AbortSignal, tick: () => void | Promise<void>): ReadMeter & { lastYield: number } {
  return { bytes: 0, files: 0, signal, tick, lastYield: performance.now() };
}

/**
 * Put a MeteredSource on every regular file of `tree` (each inode once, hardlinks share it).
 * `originals` keeps the unwrapped source per inode, so a second build wraps the original again.
 */
export function meterTree(tree: SourceTree, meter: ReadMeter & { lastYield: number }, originals: WeakMap<SourceInode, ByteSource>): void {
  for (const n of inodesOf(tree.root)) {
    if (n.type !== 'reg' || !n.content) continue;
    let orig = originals.get(n);
    if (!orig) {
      orig = n.content;
      originals.set(n, orig);
    }
    n.content = new MeteredSource(orig, meter);
  }
}
