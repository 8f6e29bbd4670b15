/**
 * One hashing worker of the builder's pool (workers/verity-pool.ts): the fs-verity digest of a
 * File, read here through its own stream and hashed as the builder worker would hash it
 * (src/lib/codec/fsverity.ts: WebCrypto per 4 KiB block). Several of these hash several files at
 * once; see the pool for why and for what was measured.
 */
import { fsverityDigest } from '../src/lib/codec/fsverity.ts';
import { StreamingBlobSource } from '../src/lib/app/stream-source.ts';

export interface VerityTask { id: number; blob: Blob }
/** `read`: bytes read so far of a task not yet done (the build's progress) */
export type VerityReply = { id: number; digest: Uint8Array } | { id: number; error: string } | { id: number; read: number };

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<VerityTask>) => void) | null; postMessage(m: VerityReply, t?: Transferable[]): void };
scope.onmessage = async (e) => {
  const { id, blob } = e.data;
  try {
    const inner = new StreamingBlobSource(blob);
    // every read but the first tells the pool how far this file got (reads are 1 MiB)
    const src = { size: inner.size, name: inner.name, read: (o: number, n: number) => (o > 0 && scope.postMessage({ id, read: o }), inner.read(o, n)) };
    const digest = await fsverityDigest(src);
    scope.postMessage({ id, digest }, [digest.buffer]);
  } catch (err) {
    scope.postMessage({ id, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
};
