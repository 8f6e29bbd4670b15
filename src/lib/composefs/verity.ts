/**
 * fs-verity digest of a stream whose length is not known in advance (an image being written):
 * data blocks are hashed as they pass, the upper Merkle levels are built at the end (by codec/fsverity.ts's MerkleTree). Same result
 * as codec/fsverity.ts `fsverityDigest` (SHA-256, 4096-byte blocks, no salt), which needs the size
 * up front.
 */
import { fsverityDescriptor, MerkleTree } from '../codec/fsverity.ts';
import { plainBufferView, sha256, webCryptoSubtle } from '../codec/sha256.ts';

const BLOCK = 4096;
const HASH = 32;

export class FsVerityStream {
  private partial = new Uint8Array(BLOCK);
  private partialLen = 0;
  private level0 = new Uint8Array(HASH * 64);
  private nHashes = 0;
  private size = 0;

  private pushHash(h: Uint8Array): void {
    if ((this.nHashes + 1) * HASH > this.level0.length) {
      const bigger = new Uint8Array(this.level0.length * 2);
      bigger.set(this.level0);
      this.level0 = bigger;
    }
    this.level0.set(h, this.nHashes * HASH);
    this.nHashes++;
  }

  update(data: Uint8Array): void {
    this.size += data.length;
    let o = 0;
    if (this.partialLen > 0) {
      const n = Math.min(BLOCK - this.partialLen, data.length);
      this.partial.set(data.subarray(0, n), this.partialLen);
      this.partialLen += n;
      o = n;
      if (this.partialLen < BLOCK) return;
      this.pushHash(sha256(this.partial));
      this.partialLen = 0;
    }
    for (; o + BLOCK <= data.length; o += BLOCK) this.pushHash(sha256(data.subarray(o, o + BLOCK)));
    if (o < data.length) {
      this.partial.set(data.subarray(o));
      this.partialLen = data.length - o;
    }
  }

  /** Same as update, hashing whole blocks with WebCrypto when there is one. */
  async updateAsync(data: Uint8Array): Promise<void> {
    const subtle = webCryptoSubtle();
    if (!subtle || data.length < 16 * BLOCK) {
      this.update(data);
      return;
    }
    let o = 0;
    if (this.partialLen > 0) {
      o = Math.min(BLOCK - this.partialLen, data.length);
      this.update(data.subarray(0, o));
    }
    const full = Math.floor((data.length - o) / BLOCK);
    const view = plainBufferView(data);
    const hashes = await Promise.all(
      Array.from({ length: full }, (_, k) => subtle.digest('SHA-256', view.subarray(o + k * BLOCK, o + (k + 1) * BLOCK))),
    );
    for (const h of hashes) this.pushHash(new Uint8Array(h));
    this.size += full * BLOCK;
    if (o + full * BLOCK < data.length) this.update(data.subarray(o + full * BLOCK));
  }

  digest(): Uint8Array {
    if (this.partialLen > 0) {
      this.partial.fill(0, this.partialLen);
      this.pushHash(sha256(this.partial));
      this.partialLen = 0;
    }
    // the size is known now: the level-0 hashes go through the one Merkle builder
    const tree = new MerkleTree(this.size, sha256);
    for (let k = 0; k < this.nHashes; k++) tree.addSync(0, this.level0.subarray(k * HASH, (k + 1) * HASH));
    return sha256(fsverityDescriptor(this.size, tree.root));
  }
}

/** "xx/yyyy…": the object-store path of a digest (first byte, '/', the other 31 bytes; lowercase hex). */
export function digestToPayload(digest: Uint8Array): string {
  let s = '';
  for (let i = 0; i < digest.length; i++) {
    if (i === 1) s += '/';
    s += digest[i]!.toString(16).padStart(2, '0');
  }
  return s;
}

export { hex } from '../bytes.ts';
