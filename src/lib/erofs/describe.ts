/**
 * What the page's structure view and a file's details show of an EROFS image: every on-disk struct
 * of the header (superblock, its extension slot, the compression config records, the long xattr
 * prefix table, the device table) and of one inode (core, xattr header, map header, lcluster
 * indexes or encoded extent records, the decoded extents), each field with what it means in this
 * image (`decoded`), and a compressed file's algorithm, pcluster sizes and where its fragment lives.
 *
 * Offsets are absolute in the space a struct lives in: the image file, the metabox inode's data
 * (METABOX images) or the packed inode's data (a prefix table kept there); only 'image' offsets
 * name bytes of the image file.
 */
import { describeStruct, struct, type DescribedField, type StructDef } from '../struct.ts';
import { isCompressedLayout, layoutName, type Inode } from './inode.ts';
import type { ErofsFs } from './reader.ts';
import {
  COMPRESSION_NAMES,
  DUMP_FEATURE_NAMES,
  EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS,
  EROFS_FEATURE_INCOMPAT_FRAGMENTS,
  EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES,
  EROFS_INODE_COMPRESSED_COMPACT,
  EROFS_INODE_COMPRESSED_FULL,
  EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE,
  EROFS_XATTR_PREFIXES,
  LCLUSTER_TYPE_NAMES,
  Z_EROFS_ADVISE_BIG_PCLUSTER_1,
  Z_EROFS_ADVISE_BIG_PCLUSTER_2,
  Z_EROFS_ADVISE_COMPACTED_2B,
  Z_EROFS_ADVISE_EXTENTS,
  Z_EROFS_ADVISE_FRAGMENT_PCLUSTER,
  Z_EROFS_ADVISE_INLINE_PCLUSTER,
  Z_EROFS_ADVISE_INTERLACED_PCLUSTER,
  Z_EROFS_COMPRESSION_DEFLATE,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_LZMA,
  Z_EROFS_COMPRESSION_ZSTD,
  Z_EROFS_EXTENT_PLEN_FMT_BIT,
  Z_EROFS_EXTENT_PLEN_MASK,
  Z_EROFS_EXTENT_PLEN_PARTIAL,
  Z_EROFS_LI_LCLUSTER_TYPE_MASK,
  Z_EROFS_LI_PARTIAL_REF,
  erofs_compr_cfg_header,
  erofs_super_block,
  erofs_super_block_ext,
  z_erofs_deflate_cfgs,
  z_erofs_extent,
  z_erofs_lcluster_index,
  z_erofs_lz4_cfgs,
  z_erofs_lzma_cfgs,
  z_erofs_map_header,
  z_erofs_zstd_cfgs,
} from './structs.ts';
import { isMetaboxNid, nidLabel } from './superblock.ts';
import { parseLongPrefixes } from './xattr.ts';
import { zExtents, zMap, type ZExtent, type ZInfo } from './zmap.ts';

/** where a struct's offsets point */
export type ByteSpace = 'image' | 'metabox' | 'packed inode';

/** A field as shown: its raw value, and what that value means in this image. */
export interface ShownField extends DescribedField {
  decoded?: string;
}

export interface ShownStruct {
  title: string;
  space: ByteSpace;
  fields: ShownField[];
  /** belongs to an inode (not the image header) */
  inode?: boolean;
}

/**
 * Metadata offsets at and above this are bytes of the metabox (the reader's metadata space puts
 * the metabox inode's data there, a multiple of every block size).
 */
const METABOX_SPACE = 2 ** 52;
/** index entries / extent records shown per inode */
const RECORD_LIMIT = 256;
/** extents listed per inode (and packed-inode extents per fragment) */
const EXTENT_LIMIT = 256;

function place(off: number): { space: ByteSpace; offset: number } {
  return off >= METABOX_SPACE ? { space: 'metabox', offset: off - METABOX_SPACE } : { space: 'image', offset: off };
}

function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

function utc(seconds: number, nsec = 0): string {
  const ms = seconds * 1000;
  if (!(Math.abs(ms) <= 8.64e15)) return `${seconds} s`;
  const iso = new Date(ms).toISOString().replace('.000Z', '');
  return `${iso}${nsec ? `.${String(nsec).padStart(9, '0')}` : ''} UTC`;
}

function algorithmName(alg: number): string {
  return COMPRESSION_NAMES[alg] ?? `algorithm ${alg}`;
}

function flagNames(v: number, names: readonly (readonly [number, string])[]): string {
  const on = names.filter(([bit]) => v & bit).map(([, n]) => n);
  let known = 0;
  for (const [bit] of names) known |= bit;
  if (v & ~known) on.push(`0x${(v & ~known).toString(16)}`);
  return on.length ? on.join(', ') : 'none';
}

function withDecoded(fields: DescribedField[], decode: (f: DescribedField) => string | undefined): ShownField[] {
  return fields.map((f) => {
    const d = decode(f);
    return d === undefined ? f : { ...f, decoded: d };
  });
}

/** a field that is not a struct member: a value at [offset, offset + size) */
function region(name: string, offset: number, size: number, value: number | string, decoded?: string, note?: string): ShownField {
  const f: ShownField = { name, offset, size, kind: typeof value === 'number' ? 'u32' : 'bytes', value };
  if (decoded !== undefined) f.decoded = decoded;
  if (note !== undefined) f.note = note;
  return f;
}

// ---- the header --------------------------------------------------------------------------------

/** where the long xattr prefix table lives (the reader's rule, see ErofsFs.loadMetaSpaces) */
function prefixTableSpace(fs: ErofsFs): ByteSpace {
  const sb = fs.sb;
  if (sb.featureCompat & EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX || (sb.metaboxNid < 0 && !(sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS && sb.packedNid))) return 'image';
  return sb.metaboxNid >= 0 ? 'metabox' : 'packed inode';
}

async function superblockFields(fs: ErofsFs): Promise<ShownField[]> {
  const sb = fs.sb;
  const b = new Uint8Array(EROFS_SUPER_OFFSET + sb.sbSize);
  b.set(sb.raw, EROFS_SUPER_OFFSET);
  const raw = describeStruct(erofs_super_block, b, EROFS_SUPER_OFFSET, 0);
  const root8 = raw.find((f) => f.name === 'rootnid_8b')?.value;
  const root8Used = sb.is48bit && typeof root8 === 'number' && root8 !== 0;
  const fragments = (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS) !== 0;
  const dump = (compat: boolean): [number, string][] => DUMP_FEATURE_NAMES.filter(([c]) => c === compat).map(([, bit, n]) => [bit, n]);
  const fields = withDecoded(raw, (f) => {
    const v = f.value;
    if (typeof v !== 'number') return undefined;
    switch (f.name) {
      case 'checksum':
        return sb.computedChecksum === null ? 'not used (no sb_csum)' : 'crc32c verified';
      case 'feature_compat':
        return flagNames(v, dump(true));
      case 'feature_incompat':
        return flagNames(v, dump(false));
      case 'blkszbits':
        return `${bytesText(sb.blockSize)} blocks`;
      case 'sb_extslots':
        return `superblock of ${sb.sbSize} bytes`;
      case 'root_nid':
        return root8Used ? `blocks_hi: ${v} (the root nid is rootnid_8b)` : `root nid ${v}`;
      case 'build_time':
        return `epoch ${utc(sb.buildTime)}`;
      case 'build_time_nsec':
        return `fixed_nsec ${v}`;
      case 'blocks':
        return root8Used ? `blocks_lo; ${sb.blocks} blocks with blocks_hi (${bytesText(sb.blocks * sb.blockSize)})` : `${sb.blocks} blocks (${bytesText(sb.blocks * sb.blockSize)})`;
      case 'meta_blkaddr':
        return `inodes from byte ${v * sb.blockSize}`;
      case 'xattr_blkaddr':
        return `shared xattrs from byte ${v * sb.blockSize}`;
      case 'u1':
        return sb.featureIncompat & EROFS_FEATURE_INCOMPAT_COMPR_CFGS
          ? `available_compr_algs: ${flagNames(v, COMPRESSION_NAMES.map((n, k) => [1 << k, n] as [number, string]))}`
          : `lz4_max_distance ${v}`;
      case 'xattr_prefix_count':
        return sb.featureIncompat & EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES ? `${v} long xattr prefixes` : undefined;
      case 'xattr_prefix_start':
        if (!(sb.featureIncompat & EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES && sb.xattrPrefixCount)) return undefined;
        return `prefix table at byte ${v * 4} of the ${prefixTableSpace(fs) === 'image' ? 'image' : `${prefixTableSpace(fs)}'s data`}`;
      case 'packed_nid':
        return fragments && v ? `packed inode nid ${v} (fragments${prefixTableSpace(fs) === 'packed inode' ? ', xattr prefixes' : ''})` : 'no packed inode';
      case 'build_time_since_epoch':
        return v ? `mkfs time ${utc(sb.mkfsTime)}` : undefined;
      case 'rootnid_8b':
        return root8Used ? `root nid ${nidLabel(sb.rootNid)}` : 'unused: the root nid is the 16-bit field';
      default:
        return undefined;
    }
  });
  if (sb.sbSize >= EROFS_SUPER_SIZE + erofs_super_block_ext.size) {
    const ext = describeStruct(erofs_super_block_ext, b, EROFS_SUPER_OFFSET + EROFS_SUPER_SIZE, 0);
    const metaboxSize = sb.metaboxNid >= 0 ? (await fs.inode(sb.metaboxNid)).size : 0;
    fields.push(...withDecoded(ext, (f) => (f.name === 'metabox_nid' ? (sb.metaboxNid >= 0 ? `metabox inode nid ${sb.metaboxNid}, ${bytesText(metaboxSize)} of inodes${prefixTableSpace(fs) === 'metabox' ? ' and xattr prefixes' : ''}` : 'no metabox') : undefined)));
  }
  return fields;
}

const CFG_STRUCTS: Record<number, StructDef> = {
  [Z_EROFS_COMPRESSION_LZ4]: z_erofs_lz4_cfgs,
  [Z_EROFS_COMPRESSION_LZMA]: z_erofs_lzma_cfgs,
  [Z_EROFS_COMPRESSION_DEFLATE]: z_erofs_deflate_cfgs,
  [Z_EROFS_COMPRESSION_ZSTD]: z_erofs_zstd_cfgs,
};

async function comprConfigs(fs: ErofsFs): Promise<ShownStruct[]> {
  const out: ShownStruct[] = [];
  const bs = fs.sb.blockSize;
  for (const c of fs.sb.comprCfgs) {
    // parseSuperblock checked each record lies in the superblock area
    const bytes = await fs.source.read(c.offset, 2 + c.size);
    const fields: ShownField[] = withDecoded(describeStruct(erofs_compr_cfg_header, bytes, 0, c.offset), () => `${c.name} config payload`);
    const def = CFG_STRUCTS[c.algorithm];
    if (def && c.size >= def.size) {
      fields.push(...withDecoded(describeStruct(def, bytes, 2, c.offset), (f) => {
        const v = f.value;
        if (typeof v !== 'number') return undefined;
        if (f.name === 'max_pclusterblks') return `pclusters up to ${bytesText(Math.max(1, v) * bs)}`;
        if (f.name === 'max_distance') return v ? `matches reach back ${bytesText(v)}` : undefined;
        if (f.name === 'dict_size') return `dictionary ${bytesText(v)}`;
        if (f.name === 'windowbits') return `window 2^${v}`;
        if (f.name === 'windowlog') return `window ${bytesText(2 ** (v + 10))}`;
        return undefined;
      }));
    }
    out.push({ title: `${erofs_compr_cfg_header.name}: ${c.name}`, space: 'image', fields });
  }
  return out;
}

async function prefixTable(fs: ErofsFs): Promise<ShownStruct | null> {
  const sb = fs.sb;
  const count = sb.featureIncompat & EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES ? sb.xattrPrefixCount : 0;
  if (count === 0 || count > 128) return null;
  const space = prefixTableSpace(fs);
  const start = sb.xattrPrefixStart * 4;
  const limit = space === 'image' ? fs.imageSize : (await fs.inode(space === 'metabox' ? sb.metaboxNid : sb.packedNid)).size;
  if (!(start < limit)) return null;
  // each entry is at most 2 + 256 bytes, aligned to 4
  const len = Math.min(count * 260, limit - start);
  const table = space === 'image' ? await fs.source.read(start, len) : await fs.read(space === 'metabox' ? sb.metaboxNid : sb.packedNid, start, len);
  const prefixes = parseLongPrefixes(count, (pos, n) => {
    if (!(pos + n <= table.length)) throw new RangeError('long prefix table runs past its bytes');
    return table.subarray(pos, pos + n);
  }, start);
  const dec = new TextDecoder();
  const fields: ShownField[] = [];
  prefixes.forEach((p, k) => {
    const base = table[p.offset - start + 2]!;
    const short = EROFS_XATTR_PREFIXES[base] ?? '';
    const infix = p.bytes.length - short.length;
    fields.push(region(`prefix[${k}].size`, p.offset, 2, infix + 1, `${infix + 1} bytes follow`));
    fields.push(region(`prefix[${k}].base_index`, p.offset + 2, 1, base, base ? `"${short}"` : 'no short prefix'));
    if (infix > 0) fields.push(region(`prefix[${k}].infix`, p.offset + 3, infix, dec.decode(p.bytes.subarray(short.length)), `name index 0x${(0x80 | k).toString(16)}: "${dec.decode(p.bytes)}"`));
  });
  return { title: `erofs.xattr_long_prefix table (${count})${space === 'image' ? '' : ` in the ${space}'s data`}`, space, fields };
}

/** The header's structs: superblock (and extension slot), compression configs, prefix table, device slots. */
export async function describeErofsHeader(fs: ErofsFs): Promise<ShownStruct[]> {
  const out: ShownStruct[] = [{ title: erofs_super_block.name, space: 'image', fields: await superblockFields(fs) }];
  out.push(...(await comprConfigs(fs)));
  const table = await prefixTable(fs);
  if (table) out.push(table);
  (await fs.describeDevices()).forEach((fields, k) => out.push({ title: `erofs.deviceslot[${k}] (device ${k + 1})`, space: 'image', fields }));
  return out;
}

// ---- an inode ----------------------------------------------------------------------------------

const ADVISE_NAMES: readonly (readonly [number, string])[] = [
  [Z_EROFS_ADVISE_COMPACTED_2B, 'COMPACTED_2B'],
  [Z_EROFS_ADVISE_BIG_PCLUSTER_1, 'BIG_PCLUSTER_1'],
  [Z_EROFS_ADVISE_BIG_PCLUSTER_2, 'BIG_PCLUSTER_2'],
  [Z_EROFS_ADVISE_INLINE_PCLUSTER, 'INLINE_PCLUSTER'],
  [Z_EROFS_ADVISE_INTERLACED_PCLUSTER, 'INTERLACED_PCLUSTER'],
  [Z_EROFS_ADVISE_FRAGMENT_PCLUSTER, 'FRAGMENT_PCLUSTER'],
];

function mapHeaderDecoded(z: ZInfo, f: DescribedField): string | undefined {
  const v = f.value;
  if (typeof v !== 'number') return undefined;
  if (z.mode === 'whole-fragment') {
    if (f.name === 'h_clusterbits') return `bit 7: the whole file is a fragment at byte ${z.fragmentOff} of the packed inode`;
    return f.name === 'h_reserved1' ? `with the next 6 bytes less bit 63: fragment offset ${z.fragmentOff}` : 'part of the fragment offset';
  }
  if (z.mode === 'extents') {
    if (f.name === 'h_advise') return `EXTENTS, ${z.recsz}-byte records${v & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER ? ', FRAGMENT_PCLUSTER' : ''}`;
    if (f.name === 'h_clusterbits') return `lcluster ${bytesText(z.lclusterSize)}`;
    if (z.recsz > 8 && (f.name === 'h_reserved1' || f.name === 'h_idata_size' || f.name === 'h_algorithmtype')) return `part of the extent count (${z.lclusters})`;
    if (z.fragment && f.name === 'h_reserved1') return 'with h_idata_size: the tail fragment offset low bits';
    return undefined;
  }
  switch (f.name) {
    case 'h_reserved1':
      return z.fragment ? `with h_idata_size: tail fragment at byte ${z.fragmentOff} of the packed inode` : undefined;
    case 'h_idata_size':
      return z.fragment ? undefined : z.idataSize ? `inline tail pcluster of ${z.idataSize} bytes` : undefined;
    case 'h_advise':
      return flagNames(v, ADVISE_NAMES);
    case 'h_algorithmtype':
      return `HEAD1 ${algorithmName(v & 15)}, HEAD2 ${algorithmName(v >> 4)}`;
    case 'h_clusterbits':
      return `lcluster ${bytesText(z.lclusterSize)}`;
    default:
      return undefined;
  }
}

function plenDecoded(plen: number): string {
  const fmt = plen >>> Z_EROFS_EXTENT_PLEN_FMT_BIT;
  const what = fmt === 0 ? 'stored' : algorithmName(fmt - 1);
  return `${plen & Z_EROFS_EXTENT_PLEN_MASK} bytes, ${what}${plen & Z_EROFS_EXTENT_PLEN_PARTIAL ? ', partial' : ''}`;
}

/** the lcluster index entries (full indexes), the compact packs as one region, or the extent records */
function indexStructs(i: Inode, z: ZInfo, limit: number): ShownStruct[] {
  const { space, offset: at } = place(z.indexOffset);
  if (z.mode === 'whole-fragment' || z.lclusters === 0) return [];
  if (z.mode === 'extents') {
    const size = z.recsz;
    const def = struct(z_erofs_extent.name, size, z_erofs_extent.fields.filter((f) => f.offset + f.size <= size).map((f) => [f.name, f.offset, f.size, f.kind, f.note] as const));
    const fields: ShownField[] = [];
    if (size === 4 && z.extPa) fields.push(region('pstart', at - 8, 8, z.extPa[0] ?? 0, 'physical byte offset of record 0; each next record follows the one before', 'le64 before 4-byte records'));
    const n = Math.min(z.lclusters, limit);
    for (let k = 0; k < n; k++) {
      for (const f of describeStruct(def, z.index, k * size, at)) {
        const d = f.name === 'plen' && typeof f.value === 'number' ? `${plenDecoded(f.value)}${size === 4 && z.extPa ? ` at byte ${z.extPa[k]}` : ''}, logical ${k * z.lclusterSize}` : undefined;
        fields.push({ ...f, name: `[${k}].${f.name}`, ...(d ? { decoded: d } : {}) });
      }
    }
    return [{ title: `${z_erofs_extent.name} × ${z.lclusters}${z.lclusters > n ? ` (first ${n})` : ''} (nid ${nidLabel(i.nid)})`, space, fields, inode: true }];
  }
  if (i.layout === EROFS_INODE_COMPRESSED_FULL) {
    const n = Math.min(z.lclusters, limit, Math.floor(z.index.length / 8));
    const fields: ShownField[] = [];
    for (let k = 0; k < n; k++) {
      for (const f of describeStruct(z_erofs_lcluster_index, z.index, k * 8, at)) {
        let d: string | undefined;
        if (f.name === 'di_advise' && typeof f.value === 'number') d = `${LCLUSTER_TYPE_NAMES[f.value & Z_EROFS_LI_LCLUSTER_TYPE_MASK]}${f.value & Z_EROFS_LI_PARTIAL_REF ? ', PARTIAL_REF' : ''} (lcluster ${k})`;
        fields.push({ ...f, name: `[${k}].${f.name}`, ...(d ? { decoded: d } : {}) });
      }
    }
    return [{ title: `${z_erofs_lcluster_index.name} × ${z.lclusters}${z.lclusters > n ? ` (first ${n})` : ''} (nid ${nidLabel(i.nid)})`, space, fields, inode: true }];
  }
  if (i.layout === EROFS_INODE_COMPRESSED_COMPACT) {
    const end = z.idataOffset > z.indexOffset ? z.idataOffset : z.indexOffset + z.index.length - z.idataSize;
    const packs = region('compact index packs', at, end - z.indexOffset, `${z.lclusters} lclusters`,
      `${z.compacted4bInitial} in initial 4-byte packs, ${z.compacted2b} in 2-byte packs, ${Math.max(0, z.lclusters - z.compacted4bInitial - z.compacted2b)} in 4-byte packs`);
    const fields = [packs];
    if (z.idataSize > 0 && z.idataOffset >= 0) fields.push(region('inline pcluster', place(z.idataOffset).offset, z.idataSize, z.idataSize, `ztailpacking: the last extent's ${z.idataSize} compressed bytes`));
    return [{ title: `compact lcluster indexes (nid ${nidLabel(i.nid)})`, space, fields, inode: true }];
  }
  return [];
}

function extentAlgorithm(e: ZExtent): string {
  if (typeof e.algorithm === 'number') return algorithmName(e.algorithm);
  if (e.algorithm === 'shifted' || e.algorithm === 'interlaced') return `none (${e.algorithm})`;
  return e.algorithm;
}

/** one decoded extent as a field over its pcluster's bytes (a fragment or hole points nowhere in the image) */
function extentField(e: ZExtent, k: number, end: number, bs: number): ShownField {
  const range = `logical ${e.la}..${end}`;
  if (e.algorithm === 'fragment') return region(`extent ${k}`, -1, 0, `${range}: fragment`, `${end - e.la} bytes at byte ${e.pa} of the packed inode's data`);
  if (e.algorithm === 'zero') return region(`extent ${k}`, -1, 0, `${range}: zeros`, 'no pcluster');
  const p = place(e.pa);
  return region(`extent ${k}`, p.offset, e.plen, `${range}: ${extentAlgorithm(e)}`,
    `${e.plen}-byte pcluster ${e.inline ? 'inline after the index' : e.pa % bs === 0 ? `at block ${e.pa / bs}` : `at byte ${e.pa}`}${e.partial ? ', partial reference' : ''}`);
}

/** The inode's structs: core, xattr header, map header, index entries / extent records, decoded extents. */
export async function describeErofsInode(fs: ErofsFs, nid: number, limit = RECORD_LIMIT): Promise<ShownStruct[]> {
  const i = await fs.inode(nid);
  const space: ByteSpace = isMetaboxNid(nid) ? 'metabox' : 'image';
  const z = isCompressedLayout(i.layout) ? await fs.zinfo(i) : null;
  const out: ShownStruct[] = [];
  for (const s of await fs.describeInodeStructs(nid)) {
    let fields: ShownField[] = s.fields;
    if (s.struct === z_erofs_map_header.name && z) fields = withDecoded(s.fields, (f) => mapHeaderDecoded(z, f));
    else if (s.struct !== z_erofs_map_header.name) {
      fields = withDecoded(s.fields, (f) => {
        if (f.name === 'i_format' && typeof f.value === 'number') return `${i.extended ? 'extended' : 'compact'}, ${layoutName(i.layout)}${f.value & 0x10 ? (i.type === 'dir' ? ', DOT_OMITTED' : ', NLINK_1') : ''}`;
        if (!i.extended && f.name === 'i_reserved' && typeof f.value === 'number' && fs.sb.buildTime) return `mtime ${utc(i.mtime, i.mtimeNsec)} (epoch + ${f.value})`;
        return undefined;
      });
    }
    out.push({ title: `${s.struct} (nid ${nidLabel(nid)})`, space, fields, inode: true });
  }
  if (!z) return out;
  out.push(...indexStructs(i, z, limit));
  const { extents, truncated } = zExtents(z, EXTENT_LIMIT);
  if (extents.length) {
    const fields = extents.map((e, k) => extentField(e, k, e.end, fs.blockSize));
    // an extent is in the image unless it is inline in the metabox; fragments and holes point nowhere
    const inMetabox = extents.some((e) => e.inline && e.pa >= METABOX_SPACE);
    out.push({ title: `extents (${extents.length}${truncated ? '+' : ''}) of nid ${nidLabel(nid)}`, space: inMetabox ? 'metabox' : 'image', fields, inode: true });
  }
  return out;
}

// ---- a compressed file's summary ---------------------------------------------------------------

/** One pcluster of the packed inode that holds (part of) a fragment. */
export interface FragmentPiece {
  /** byte range of the packed inode's data this pcluster decodes to */
  packedStart: number;
  packedEnd: number;
  algorithm: string;
  /** absolute image offset of the pcluster (-1: not stored on the device) */
  pclusterOffset: number;
  pclusterSize: number;
}

export interface CompressionSummary {
  mapping: string;
  /** every algorithm the file's bytes go through (a fragment's: the packed inode's) */
  algorithms: string[];
  lclusterSize: number;
  extents: number;
  extentsTruncated: boolean;
  /** the file's own pclusters (fragments are the packed inode's) */
  pclusters: { count: number; smallest: number; largest: number; storedBytes: number; sizes: number[] };
  inlineTail: { offset: number; size: number; inMetabox: boolean } | null;
  fragment: { packedNid: number; offset: number; length: number; wholeFile: boolean; pieces: FragmentPiece[]; piecesTruncated: boolean } | null;
}

function mappingText(i: Inode, z: ZInfo): string {
  if (z.mode === 'whole-fragment') return 'whole-file fragment (no index)';
  if (z.mode === 'extents') return `encoded extents (${z.recsz}-byte records)`;
  if (i.layout === EROFS_INODE_COMPRESSED_COMPACT) return `compact lcluster indexes${z.advise & Z_EROFS_ADVISE_COMPACTED_2B ? ' (2-byte packs)' : ''}`;
  return z.headerOffset < 0 ? 'full lcluster indexes (legacy header)' : 'full lcluster indexes';
}

/** the packed inode's pclusters that make up [offset, offset + length) of its data */
async function fragmentPieces(fs: ErofsFs, offset: number, length: number): Promise<{ pieces: FragmentPiece[]; truncated: boolean }> {
  const packed = await fs.inode(fs.sb.packedNid);
  const end = Math.min(offset + length, packed.size);
  const pieces: FragmentPiece[] = [];
  if (!isCompressedLayout(packed.layout)) {
    for (const p of await fs.dataPlan(fs.sb.packedNid, offset, end - offset)) {
      if (pieces.length >= EXTENT_LIMIT) return { pieces, truncated: true };
      const at = offset + pieces.reduce((n, x) => n + (x.packedEnd - x.packedStart), 0);
      const len = p.kind === 'copy' || p.kind === 'zero' ? p.len : p.kind === 'bytes' ? p.bytes.length : p.take;
      pieces.push({ packedStart: at, packedEnd: at + len, algorithm: p.kind === 'zero' ? 'zeros' : 'none', pclusterOffset: p.kind === 'copy' ? p.pos : -1, pclusterSize: p.kind === 'copy' ? p.len : 0 });
    }
    return { pieces, truncated: false };
  }
  const z = await fs.zinfo(packed);
  for (let pos = offset; pos < end; ) {
    if (pieces.length >= EXTENT_LIMIT) return { pieces, truncated: true };
    const e = zMap(z, pos);
    const stop = Math.min(e.end, z.size);
    if (!(stop > pos)) break;
    const stored = typeof e.algorithm === 'number' || e.algorithm === 'shifted' || e.algorithm === 'interlaced';
    // a mapping may stop at its lcluster's end: the next one continues the same extent
    const last = pieces[pieces.length - 1];
    if (last && last.packedStart === e.la) {
      last.packedEnd = stop;
      pos = stop;
      continue;
    }
    pieces.push({ packedStart: e.la, packedEnd: stop, algorithm: extentAlgorithm(e), pclusterOffset: stored && !e.inline ? e.pa : stored ? place(e.pa).offset : -1, pclusterSize: stored ? e.plen : 0 });
    pos = stop;
  }
  return { pieces, truncated: false };
}

/** A compressed file's algorithm(s), pcluster sizes and fragment location; null for other layouts. */
export async function compressionSummary(fs: ErofsFs, nid: number): Promise<CompressionSummary | null> {
  const i = await fs.inode(nid);
  if (!isCompressedLayout(i.layout)) return null;
  const z = await fs.zinfo(i);
  const { extents, truncated } = zExtents(z, 4096);
  const algorithms = new Set<string>();
  const sizes: number[] = [];
  let tail: ZExtent | null = null;
  for (const e of extents) {
    if (e.algorithm === 'fragment') tail = e;
    else algorithms.add(extentAlgorithm(e));
    if (e.algorithm !== 'fragment' && e.algorithm !== 'zero') sizes.push(e.plen);
  }
  let fragment: CompressionSummary['fragment'] = null;
  if (tail) {
    const length = z.size - tail.la;
    const { pieces, truncated: piecesTruncated } = await fragmentPieces(fs, tail.pa, length);
    for (const p of pieces) algorithms.add(`${p.algorithm} (fragment)`);
    fragment = { packedNid: fs.sb.packedNid, offset: tail.pa, length, wholeFile: tail.la === 0, pieces, piecesTruncated };
  }
  const inline = extents.find((e) => e.inline);
  return {
    mapping: mappingText(i, z),
    algorithms: [...algorithms],
    lclusterSize: z.lclusterSize,
    extents: extents.length,
    extentsTruncated: truncated,
    pclusters: {
      count: sizes.length,
      smallest: sizes.length ? Math.min(...sizes) : 0,
      largest: sizes.length ? Math.max(...sizes) : 0,
      storedBytes: sizes.reduce((a, b) => a + b, 0),
      sizes: [...new Set(sizes)].sort((a, b) => a - b).slice(0, 12),
    },
    inlineTail: inline ? { offset: place(inline.pa).offset, size: inline.plen, inMetabox: inline.pa >= METABOX_SPACE } : null,
    fragment,
  };
}
