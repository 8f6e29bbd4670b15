// Hostile images made on purpose: our own writers build a tree with placeholder names or targets,
// and the bytes are then patched into what no mkfs writes (a name listed twice, NUL in a name,
// directories sharing one block run, a chunk that inflates past its declared size). Used by the
// node tests (test/hostile-extract.test.ts) and the page tests (e2e/hostile.spec.ts).
import { gzipSync } from 'fflate';
import { buildComposefs } from '../../src/lib/composefs/writer.ts';
import { openErofs } from '../../src/lib/erofs/reader.ts';
import { erofs_inode_compact, erofs_inode_extended } from '../../src/lib/erofs/structs.ts';
import { buildErofs } from '../../src/lib/erofs/writer.ts';
import { MemorySink } from '../../src/lib/erofs/writer-output.ts';
import type { SourceInode, SourceTree } from '../../src/lib/fs/tree.ts';
import { BytesSource } from '../../src/lib/io/source.ts';
import { dir, file, special, symlink } from '../rafs-build-helpers.ts';
import { buildRafs } from '../../src/lib/rafs/builder/build.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

export type Format = 'erofs' | 'composefs' | 'rafs-v5' | 'rafs-v6';

export { dir, file, special, symlink };
export const treeOf = (root: SourceInode): SourceTree => ({ root, notes: [] });

export interface Built {
  image: Uint8Array;
  blob?: Uint8Array;
  /** the RAFS data blob's id: its file name in a blob directory */
  blobId?: string;
}

/** Image bytes (and the RAFS data blob) of a tree, by our own writers; RAFS chunks gzip-compressed, 64 KiB. */
export async function build(format: Format, t: SourceTree): Promise<Built> {
  if (format === 'erofs' || format === 'composefs') {
    const sink = new MemorySink();
    if (format === 'erofs') await buildErofs(t, { checksum: false, uuid: new Uint8Array(16), buildTime: 1_700_000_000 }, sink);
    else await buildComposefs(t, {}, sink);
    return { image: sink.bytes() };
  }
  const boot = new MemorySink();
  const blob = new MemorySink();
  const r = await buildRafs(t, { version: format === 'rafs-v5' ? 5 : 6, compressor: 'gzip', chunkSize: 0x10000 }, { bootstrap: boot, blob });
  const b = blob.bytes();
  return { image: boot.bytes(), ...(b.length ? { blob: b, blobId: r.blobId! } : {}) };
}

/** Every occurrence of `from` in `b` becomes `to` (same length); throws when there is none. */
export function patch(b: Uint8Array, from: Uint8Array | string, to: Uint8Array | string): Uint8Array {
  const f = typeof from === 'string' ? enc.encode(from) : from;
  const t = typeof to === 'string' ? enc.encode(to) : to;
  if (f.length !== t.length) throw new RangeError('patch: lengths differ');
  const out = Buffer.from(b);
  let n = 0;
  for (let i = out.indexOf(f); i >= 0; i = out.indexOf(f, i + f.length)) {
    out.set(t, i);
    n++;
  }
  if (n === 0) throw new Error(`patch: placeholder ${JSON.stringify(dec.decode(f))} not found`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** An EROFS inode's layout, size and i_u, compact or extended (our writer makes either). */
export function getInode(image: Uint8Array, at: number): { layout: number; size: number; rawBlkaddr: number } {
  const v = new DataView(image.buffer, image.byteOffset);
  const format = v.getUint16(at, true);
  const ext = (format & 1) === 1;
  const s = ext ? erofs_inode_extended.f : erofs_inode_compact.f;
  return { layout: (format >> 1) & 7, size: ext ? Number(v.getBigUint64(at + s.i_size.offset, true)) : v.getUint32(at + s.i_size.offset, true), rawBlkaddr: v.getUint32(at + s.i_u.offset, true) };
}

export function setInode(image: Uint8Array, at: number, set: { layout?: number; size?: number; rawBlkaddr?: number }): void {
  const v = new DataView(image.buffer, image.byteOffset);
  const format = v.getUint16(at, true);
  const ext = (format & 1) === 1;
  const s = ext ? erofs_inode_extended.f : erofs_inode_compact.f;
  if (set.layout !== undefined) v.setUint16(at, (format & ~0xe) | (set.layout << 1), true);
  if (set.size !== undefined) {
    if (ext) v.setBigUint64(at + s.i_size.offset, BigInt(set.size), true);
    else v.setUint32(at + s.i_size.offset, set.size, true);
  }
  if (set.rawBlkaddr !== undefined) v.setUint32(at + s.i_u.offset, set.rawBlkaddr, true);
}

/**
 * `/big` lists `n` empty directories, and every one of them is then made a flat-plain directory
 * over /big's own full blocks: a walk that trusts them lists n × n entries from one block run.
 */
export async function amplifiedErofs(n = 20000): Promise<Uint8Array> {
  const kids: [string, SourceInode][] = [];
  for (let i = 0; i < n; i++) kids.push([`d${String(i).padStart(6, '0')}`, dir([])]);
  const img = await build('erofs', treeOf(dir([['big', dir(kids)]])));
  const fs = await openErofs(new BytesSource(img.image, 'img'));
  const bigEntry = (await fs.readdir(fs.rootIno)).find((x) => dec.decode(x.name) === 'big')!;
  const image = img.image.slice();
  const big = getInode(image, fs.inodeOffset(bigEntry.ino));
  if (big.layout !== 2) throw new Error(`/big has layout ${big.layout}, not flat-inline`);
  const fullBlocks = Math.floor(big.size / 4096) * 4096;
  if (fullBlocks < 4096) throw new Error('/big has no full block');
  for (const e of await fs.readdir(bigEntry.ino)) setInode(image, fs.inodeOffset(e.ino), { layout: 0, size: fullBlocks, rawBlkaddr: big.rawBlkaddr });
  return image;
}

/** A RAFS image of one 64 KiB file `/f` whose gzip chunk is replaced by a stream that inflates to far more. */
export async function gzipBombRafs(format: 'rafs-v5' | 'rafs-v6'): Promise<Built> {
  const text = enc.encode('all work and no play makes jack a dull boy\n'.repeat(1600)).subarray(0, 65536);
  const img = await build(format, treeOf(dir([['f', file(text)]])));
  if (!img.blob) throw new Error('no blob');
  const stored = gzipSync(text, { level: 6 });
  const at = Buffer.from(img.blob).indexOf(Buffer.from(stored.subarray(10, 40))) - 10;
  if (at < 0) throw new Error('the chunk was not found in the blob');
  // as much of the bomb as the chunk's room holds: every byte of it inflates to ~1000
  const bomb = gzipSync(new Uint8Array(256 << 20), { level: 9 });
  const blob = img.blob.slice();
  blob.set(bomb.subarray(0, Math.min(bomb.length, stored.length, blob.length - at)), at);
  return { ...img, blob };
}
