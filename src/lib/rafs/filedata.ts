import { check } from '../errors.ts';
import type { BlobStore } from './blobstore.ts';
import type { RafsChunk } from './model.ts';

/**
 * Bytes [offset, offset+size) of a regular file from its chunks. Chunk i covers
 * [i·chunkSize, min(fileSize, (i+1)·chunkSize)) unless `holey` (v5 HAS_HOLE), where each chunk sits at
 * its own file_offset and gaps read as zeros.
 */
export async function readFileRange(
  store: BlobStore, chunks: readonly RafsChunk[], fileSize: number, chunkSize: number, holey: boolean,
  offset: number, size: number, structure: string, inodeOffset: number,
): Promise<Uint8Array> {
  if (offset >= fileSize || size <= 0) return new Uint8Array(0);
  const end = Math.min(fileSize, offset + size);
  const out = new Uint8Array(end - offset);
  const wanted: { c: RafsChunk; start: number }[] = [];
  if (holey) {
    for (const c of chunks) {
      if (c.fileOffset < end && c.fileOffset + c.uncompressedSize > offset) wanted.push({ c, start: c.fileOffset });
    }
  } else {
    const first = Math.floor(offset / chunkSize);
    const last = Math.floor((end - 1) / chunkSize);
    check(last < chunks.length, structure, inodeOffset, `file of ${fileSize} bytes needs chunk ${last} but has ${chunks.length}`);
    for (let i = first; i <= last; i++) {
      const c = chunks[i]!;
      const expect = Math.min(chunkSize, fileSize - i * chunkSize);
      check(c.uncompressedSize === expect, structure, inodeOffset, `chunk ${i} holds ${c.uncompressedSize} bytes, the file needs ${expect} there`);
      wanted.push({ c, start: i * chunkSize });
    }
  }
  const datas = await Promise.all(wanted.map((w) => store.readChunk(w.c)));
  for (let k = 0; k < wanted.length; k++) {
    const { start } = wanted[k]!;
    const data = datas[k]!;
    const from = Math.max(offset, start);
    const to = Math.min(end, start + data.length);
    if (to > from) out.set(data.subarray(from - start, to - start), from - offset);
  }
  return out;
}
