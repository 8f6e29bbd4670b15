/**
 * Optional capabilities of an open image, typed, with the guards in one place: callers ask here
 * instead of probing an object for methods.
 * - chunks: a Nydus RAFS image (chunk lists, blob table, blob store)
 * - describe: the on-disk structs of the header and of an inode, with absolute offsets
 * - plans: where a file's bytes are stored (extract copies them itself)
 */
import { ComposefsFs } from '../composefs/reader.ts';
import { compressionSummary, describeErofsHeader, describeErofsInode, type ByteSpace, type CompressionSummary, type ShownField } from '../erofs/describe.ts';
import { ErofsFs } from '../erofs/reader.ts';
import type { DataPiece } from '../fs/plan.ts';
import type { ReadOnlyFs } from '../fs/types.ts';
import { describeRafsHeader, describeRafsInode } from '../rafs/describe.ts';
import type { RafsFs } from '../rafs/model.ts';
import type { DescribedField } from '../struct.ts';

export type { ByteSpace, CompressionSummary, ShownField };

/** chunks: RAFS v5 and v6 images */
export function isRafs(fs: ReadOnlyFs): fs is RafsFs {
  return fs.format === 'rafs-v5' || fs.format === 'rafs-v6';
}

/** the EROFS reader of an EROFS image, or the one under a composefs image */
export function erofsOf(fs: ReadOnlyFs): ErofsFs | null {
  if (fs instanceof ErofsFs) return fs;
  if (fs instanceof ComposefsFs) return fs.erofs;
  return null;
}

/** plans: the data-plan function of a format that has one, else null */
export function plansOf(fs: ReadOnlyFs): ((ino: number, offset: number, size: number) => Promise<DataPiece[]>) | null {
  return fs.dataPlan ? fs.dataPlan.bind(fs) : null;
}

/** One on-disk struct as the structure view shows it. */
export interface StructSection {
  title: string;
  /** `decoded`: what a field's value means in this image, where the format reader says */
  fields: ShownField[];
  /** where the offsets point; only 'image' offsets are bytes of the image file (default 'image') */
  space?: ByteSpace;
  /** belongs to the selected inode (not the image header) */
  inode?: boolean;
}

/** describe: whether the image's structs can be shown at all */
export function canDescribe(fs: ReadOnlyFs): boolean {
  return isRafs(fs) || erofsOf(fs) !== null;
}

/** The header's structs, and the inode's when `ino` is given (empty for a tree without bytes). */
export async function describeImage(fs: ReadOnlyFs, ino: number | null, maxChunks = 256): Promise<StructSection[]> {
  const out: StructSection[] = [];
  if (isRafs(fs)) {
    for (const [k, v] of Object.entries(await describeRafsHeader(fs))) {
      if (v.length === 0) continue;
      if (Array.isArray(v[0])) (v as DescribedField[][]).forEach((f, i) => out.push({ title: `${k}[${i}]`, fields: f }));
      else out.push({ title: k, fields: v as DescribedField[] });
    }
    if (ino !== null) {
      const d = await describeRafsInode(fs, ino);
      out.push({ title: `inode ${ino}`, fields: d.inode, inode: true });
      (d.chunks ?? []).slice(0, maxChunks).forEach((c, i) => out.push({ title: `chunk info ${i}`, fields: c, inode: true }));
    }
    return out;
  }
  const e = erofsOf(fs);
  if (!e) return out;
  out.push(...(await describeErofsHeader(e)));
  if (ino !== null) out.push(...(await describeErofsInode(e, ino)));
  return out;
}

/** compressed EROFS files (composefs images have none): algorithms, pcluster sizes, where a fragment lives */
export async function compressionOf(fs: ReadOnlyFs, ino: number): Promise<CompressionSummary | null> {
  const e = erofsOf(fs);
  return e ? compressionSummary(e, ino) : null;
}
