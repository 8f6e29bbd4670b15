// The EROFS writer's compressed pclusters kept in a temporary file between planning and writing
// (ZDataStore): each file's metadata size depends on whether it ends up compressed, so every
// pcluster is made before the first inode is written. Held in memory, that was the whole compressed
// image (635 MB of a 1.05 GB tree: peak RSS 774 MB for -z lz4hc against mkfs.erofs 1.5's 333 MB).
// Measured (load 4-6.6, `build --format erofs -z lz4hc`, LAYERSCOPE_ZSTORE=memory vs this store,
// mkfs.erofs 1.5 -zlz4hc in the same round, images byte-identical): /tmp/q7-small (570 MB) peak RSS
// 383-392 -> 220-237 MB with 0 compress threads, 438-449 -> 299-303 MB with 2 (mkfs 236 MB);
// /tmp/q7-tree (1.05 GB) 792 -> 364 MB with 0 threads, 934 -> 578 MB with 2 (mkfs 341 MB). The
// write and read back cost 0.41-0.43 CPU-s per 338 MB (mostly sys; write-back is the kernel's),
// within the noise of the whole builds' 10-24 CPU-s.
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { useZDataStore, type ZDataStore } from '../lib/erofs/writer-compress.ts';

/**
 * One file, appended with write(2) and read back with pread at emit. It is unlinked as soon as it
 * is open, so nothing is left behind whatever ends the build (an error, Ctrl-C, a kill): the
 * space is freed when the descriptor closes (close(), or the process exit).
 */
export class TempFileZDataStore implements ZDataStore {
  private fd: number;
  private end = 0;
  readonly path: string;
  constructor(dir: string) {
    this.path = join(dir, `.layerscope-zdata-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
    this.fd = openSync(this.path, 'wx+', 0o600);
    unlinkSync(this.path);
  }
  put(data: Uint8Array): number {
    const at = this.end;
    for (let w = 0; w < data.length; ) w += writeSync(this.fd, data, w, data.length - w, at + w);
    this.end += data.length;
    return at;
  }
  get(handle: number, length: number): Uint8Array {
    if (handle < 0 || handle + length > this.end) throw new Error(`EROFS writer bug: stored pclusters at ${handle}+${length} past ${this.end}`);
    // a fresh buffer: the output may keep it
    const b = new Uint8Array(length);
    for (let r = 0; r < length; ) {
      const n = readSync(this.fd, b, r, length - r, handle + r);
      if (n === 0) throw new Error(`EROFS writer: temporary pcluster file ended at ${handle + r} (expected ${handle + length})`);
      r += n;
    }
    return b;
  }
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * The directory for an image's temporary file: next to the image (its file system must hold the
 * image anyway; /tmp may be a tmpfs, i.e. memory again), else os.tmpdir() for outputs that are not
 * plain paths (a device, /proc/self/fd/N).
 */
export function zstoreDir(out: string): string {
  const abs = resolve(out);
  return abs.startsWith('/dev/') || abs.startsWith('/proc/') ? tmpdir() : dirname(abs);
}

/** the EROFS builds of this process keep pclusters in a temporary file in `dir` (null: in memory) */
export function useTempZDataStore(dir: string | null): void {
  useZDataStore(dir === null ? null : () => new TempFileZDataStore(dir));
}
