// Node-only: never import this from code that runs in the page or a worker.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { IoError } from '../errors.ts';
import { checkRange, type ByteSource } from './source.ts';

const shortRead = (at: number): string => `short read at ${at}`;

/**
 * Fill all of `buf` from byte `position` of a descriptor: a read may return fewer bytes than asked.
 * End of file first is an IoError naming `name`; `why(at)` words it.
 */
export function readFullSync(fd: number, buf: Uint8Array, position: number, name: string, why = shortRead): void {
  for (let done = 0; done < buf.length; ) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new IoError(name, why(position + done));
    done += n;
  }
}

/** readFullSync through a FileHandle. */
export async function readFull(fh: FileHandle, buf: Uint8Array, position: number, name: string, why = shortRead): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new IoError(name, why(position + done));
    done += bytesRead;
  }
}

export class NodeFileSource implements ByteSource {
  readonly path: string;
  readonly readIntoSync?: (offset: number, dest: Uint8Array) => void;
  private constructor(private readonly fh: FileHandle, readonly size: number, readonly name: string, private readonly sync: boolean) {
    this.path = name;
    if (sync) {
      this.readIntoSync = (offset, dest) => {
        checkRange(this, offset, dest.length);
        this.fillSync(offset, dest);
      };
    }
  }

  /**
   * `sync` reads with readSync on the descriptor: for a CLI reading a local disk it is much cheaper
   * than a thread-pool round trip per read, and nothing else waits on the event loop.
   */
  static async open(path: string, opts: { sync?: boolean } = {}): Promise<NodeFileSource> {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile() && !st.isBlockDevice()) {
      await fh.close();
      throw new IoError(path, 'not a regular file');
    }
    return new NodeFileSource(fh, st.size, path, opts.sync ?? false);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    // every byte is overwritten by the read below: skip the zero-fill of a fresh allocation
    // (unpooled: the result owns its ArrayBuffer, and is a plain Uint8Array like every other source's)
    const alloc = (): Uint8Array => {
      checkRange(this, offset, length);
      const raw = Buffer.allocUnsafeSlow(length);
      return new Uint8Array(raw.buffer, raw.byteOffset, length);
    };
    if (this.sync) {
      try {
        const buf = alloc();
        this.fillSync(offset, buf);
        return Promise.resolve(buf);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return (async () => {
      const buf = alloc();
      await this.fillAsync(offset, buf);
      return buf;
    })();
  }

  // Not async functions: a local-file read in sync mode is done when it returns, and a CLI makes
  // tens of thousands of them (each async layer costs a promise and a microtask turn).
  readInto(offset: number, dest: Uint8Array): Promise<void> {
    try {
      checkRange(this, offset, dest.length);
      if (this.sync) {
        this.fillSync(offset, dest);
        return Promise.resolve();
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return this.fillAsync(offset, dest);
  }

  private fillSync(offset: number, buf: Uint8Array): void {
    readFullSync(this.fh.fd, buf, offset, this.name);
  }

  private fillAsync(offset: number, buf: Uint8Array): Promise<void> {
    return readFull(this.fh, buf, offset, this.name);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
