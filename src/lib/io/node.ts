// Node-only: never import this from code that runs in the page or a worker.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { IoError } from '../errors.ts';
import { checkRange, type ByteSource } from './source.ts';

export class NodeFileSource implements ByteSource {
  private constructor(private readonly fh: FileHandle, readonly size: number, readonly name: string, private readonly sync: boolean) {}

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

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    // every byte is overwritten by the read below: skip the zero-fill of a fresh allocation
    // (unpooled: the result owns its ArrayBuffer, and is a plain Uint8Array like every other source's)
    const raw = Buffer.allocUnsafeSlow(length);
    const buf = new Uint8Array(raw.buffer, raw.byteOffset, length);
    await this.fill(offset, buf);
    return buf;
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    checkRange(this, offset, dest.length);
    await this.fill(offset, dest);
  }

  private async fill(offset: number, buf: Uint8Array): Promise<void> {
    const length = buf.length;
    let done = 0;
    while (done < length) {
      const bytesRead = this.sync ? readSync(this.fh.fd, buf, done, length - done, offset + done) : (await this.fh.read(buf, done, length - done, offset + done)).bytesRead;
      if (bytesRead === 0) throw new IoError(this.name, `short read at ${offset + done}`);
      done += bytesRead;
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
