import { crc32cRaw } from '../codec/crc32c.ts';
import { hex } from '../bytes.ts';
import { check, fail, UnsupportedError } from '../errors.ts';
import { decodeStruct, readU64 } from '../struct.ts';
import {
  COMPAT_FEATURE_NAMES,
  COMPRESSION_NAMES,
  DUMP_FEATURE_NAMES,
  EROFS_ALL_FEATURE_INCOMPAT,
  EROFS_DEVT_SLOT_SIZE,
  EROFS_FEATURE_COMPAT_SB_CHKSUM,
  EROFS_FEATURE_INCOMPAT_48BIT,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS,
  EROFS_FEATURE_INCOMPAT_DEVICE_TABLE,
  EROFS_FEATURE_INCOMPAT_METABOX,
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  EROFS_MAGIC,
  EROFS_SB_EXTSLOT_SIZE,
  EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE,
  INCOMPAT_FEATURE_NAMES,
  Z_EROFS_COMPRESSION_DEFLATE,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_LZMA,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_COMPRESSION_ZSTD,
  erofs_compr_cfg_header,
  erofs_deviceslot,
  erofs_super_block,
  erofs_super_block_ext,
  z_erofs_deflate_cfgs,
  z_erofs_lz4_cfgs,
  z_erofs_lzma_cfgs,
  z_erofs_zstd_cfgs,
} from './structs.ts';

/** incompat bits this reader implements: every bit erofs-utils 1.9.3 defines */
export const SUPPORTED_INCOMPAT = EROFS_ALL_FEATURE_INCOMPAT;

/** the kernel's Z_EROFS_PCLUSTER_MAX_PAGES for 4 KiB pages: 1 MiB pclusters */
const MAX_PCLUSTER_BYTES = 1 << 20;
/** the kernel's Z_EROFS_LZMA_MAX_DICT_SIZE */
const LZMA_MAX_DICT = 8 << 20;

/**
 * In-memory nids of inodes in the metabox: on disk such a nid has bit 63 set, which a JS number
 * cannot carry next to its low bits, so the slot number is added to this base instead. Primary
 * nids stay below it (2^50 slots of 32 bytes is far past any image a number can address).
 */
export const METABOX_NID_BASE = 2 ** 50;
/** largest metabox slot: its byte offset (slot * 32) stays a safe integer and below 2^36 */
const METABOX_SLOT_MAX = 2 ** 31;

export function isMetaboxNid(nid: number): boolean {
  return nid >= METABOX_NID_BASE;
}

/** on-disk form of an in-memory nid, for display: metabox nids as 0x8000…slot */
export function nidLabel(nid: number): string {
  return isMetaboxNid(nid) ? `0x8000${(nid - METABOX_NID_BASE).toString(16).padStart(12, '0')}` : String(nid);
}

/**
 * A nid read as two le32 halves (dirents, rootnid_8b) to its in-memory form, or null when it is
 * too big to name an inode (the caller reports where).
 */
export function nidFromHalves(hi: number, lo: number): number | null {
  if (hi & 0x80000000) {
    const slot = (hi & 0x7fffffff) * 0x1_0000_0000 + lo;
    return slot < METABOX_SLOT_MAX ? METABOX_NID_BASE + slot : null;
  }
  return hi < 0x40000 ? hi * 0x1_0000_0000 + lo : null;
}

export interface DeviceSlot {
  /** device id used in chunk indexes (1 = first slot) */
  id: number;
  offset: number;
  tag: Uint8Array;
  blocks: number;
  mappedBlkaddr: number;
}

/** What each algorithm's config record says (defaults where the image has no record). */
export interface AlgorithmConfig {
  /** LZ4: max pcluster in blocks (1 without a record) */
  lz4MaxPclusterBlks: number;
  /** LZMA: dictionary size (0 without a record) */
  lzmaDictSize: number;
  /** DEFLATE: window bits from the record (the window is 32 KiB whatever it says) */
  deflateWindowBits: number;
  /** zstd: window log (log2(window)); 0 without a record */
  zstdWindowLog: number;
}

export interface ComprCfg {
  algorithm: number;
  name: string;
  /** absolute offset of the record's le16 size */
  offset: number;
  size: number;
}

export interface Superblock {
  magic: number;
  checksum: number;
  /** null when compat SB_CHKSUM is not set; otherwise the value that was computed (it matched) */
  computedChecksum: number | null;
  featureCompat: number;
  featureIncompat: number;
  blkszbits: number;
  blockSize: number;
  sbExtslots: number;
  sbSize: number;
  /** in-memory nid (see METABOX_NID_BASE) */
  rootNid: number;
  inos: number;
  /** epoch (1.5: build_time): compact inode mtime = epoch + i_mtime */
  buildTime: number;
  /** fixed_nsec: every compact inode's nanoseconds */
  buildTimeNsec: number;
  /** mkfs time: epoch + build_time (offset 108; 0 before 1.9) */
  mkfsTime: number;
  /** primary-device blocks (blocks_lo | blocks_hi << 32 with 48BIT) */
  blocks: number;
  /** 48BIT: 48-bit block addresses, compact inode mtimes, NLINK_1 */
  is48bit: boolean;
  /** METABOX: nid of the metabox inode, else -1 */
  metaboxNid: number;
  metaBlkaddr: number;
  xattrBlkaddr: number;
  uuid: Uint8Array;
  volumeName: Uint8Array;
  u1: number;
  extraDevices: number;
  devtSlotoff: number;
  xattrPrefixCount: number;
  xattrPrefixStart: number;
  packedNid: number;
  availableComprAlgs: number;
  algorithmConfig: AlgorithmConfig;
  xattrFilterReserved: number;
  ishareXattrPrefixId: number;
  lz4MaxDistance: number;
  /** largest pcluster in blocks (1 without COMPR_CFGS) */
  lz4MaxPclusterBlks: number;
  comprCfgs: ComprCfg[];
  devices: DeviceSlot[];
  /** mask applied to chunk index device_id: roundup_pow_of_two(extra_devices + 1) - 1 */
  deviceIdMask: number;
  /** the raw superblock bytes (sbSize of them), for describeStruct */
  raw: Uint8Array;
}

/** the features as dump.erofs 1.9.3 names them, and any bits it does not know as hex */
export function featureNames193(compat: number, incompat: number): string[] {
  const out: string[] = [];
  let known = 0;
  for (const [isCompat, bit, name] of DUMP_FEATURE_NAMES) {
    if (isCompat) known |= bit;
    if ((isCompat ? compat : incompat) & bit) out.push(name);
  }
  if (compat & ~known) out.push(`compat:0x${(compat & ~known).toString(16)}`);
  if (incompat & ~EROFS_ALL_FEATURE_INCOMPAT) out.push(`incompat:0x${(incompat & ~EROFS_ALL_FEATURE_INCOMPAT).toString(16)}`);
  return out;
}

export function featureNames(compat: number, incompat: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of COMPAT_FEATURE_NAMES) if (compat & bit) out.push(name);
  for (const [bit, name] of INCOMPAT_FEATURE_NAMES) if (incompat & bit) out.push(name);
  return out;
}

/**
 * Parse and validate the superblock. `head` holds the image's first bytes: at least
 * min(image size, max(blocksize, 4096)) of them (the caller re-reads if blkszbits asks for more).
 * Returns the number of head bytes it needed when `head` was too short, so the caller can retry.
 */
export function parseSuperblock(head: Uint8Array, imageSize: number): Superblock | { needBytes: number } {
  const S = 'erofs.superblock';
  const at = EROFS_SUPER_OFFSET;
  check(imageSize >= at + EROFS_SUPER_SIZE && head.length >= at + EROFS_SUPER_SIZE, S, at, `image of ${imageSize} bytes is too small for a superblock`);
  const v = decodeStruct(erofs_super_block, head, at);
  const F = erofs_super_block.f;
  check(v.magic === EROFS_MAGIC, S, at, `bad magic 0x${v.magic.toString(16)}`);
  const bits = v.blkszbits;
  check(bits >= 9 && bits <= 16, S, at + F.blkszbits.offset, `unsupported blkszbits ${bits}`);
  const bs = 2 ** bits;
  const sbSize = EROFS_SUPER_SIZE + v.sb_extslots * EROFS_SB_EXTSLOT_SIZE;
  check(sbSize <= Math.max(bs - at, at), S, at + F.sb_extslots.offset, `sb_extslots ${v.sb_extslots} makes the superblock cross its block`);
  check(at + sbSize <= imageSize, S, at + F.sb_extslots.offset, `superblock of ${sbSize} bytes runs past the image end`);

  const csumLen = bs > at ? bs - at : bs;
  const needed = Math.min(imageSize, Math.max(at + sbSize, at + csumLen, 4096));
  if (head.length < needed) return { needBytes: needed };

  const incompat = v.feature_incompat;
  if (incompat & ~SUPPORTED_INCOMPAT) {
    const unknown = incompat & ~SUPPORTED_INCOMPAT;
    throw new UnsupportedError('erofs feature', `incompat bits 0x${unknown.toString(16)} are newer than erofs-utils 1.9.3 (known: 0x${SUPPORTED_INCOMPAT.toString(16)})`);
  }

  let computed: number | null = null;
  if (v.feature_compat & EROFS_FEATURE_COMPAT_SB_CHKSUM) {
    check(at + csumLen <= imageSize, S, at + F.checksum.offset, `checksummed area of ${csumLen} bytes runs past the image end`);
    const area = head.slice(at, at + csumLen);
    area.fill(0, F.checksum.offset, F.checksum.offset + F.checksum.size);
    computed = crc32cRaw(0xffffffff, area);
    check(computed === v.checksum, S, at + F.checksum.offset, `checksum 0x${v.checksum.toString(16)} does not match the computed 0x${computed.toString(16)}`);
  }

  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  check(view.getUint32(at + F.inos.offset + 4, true) < 0x200000, S, at + F.inos.offset, 'inode count does not fit in 53 bits');
  const inos = readU64(view, at + F.inos.offset);
  // bit 63 set would make the packed inode its own metabox slot (erofs-utils refuses it)
  const packedHi = view.getUint32(at + F.packed_nid.offset + 4, true);
  check(packedHi < 0x40000, S, at + F.packed_nid.offset, `packed_nid 0x${packedHi.toString(16)}${view.getUint32(at + F.packed_nid.offset, true).toString(16).padStart(8, '0')} names no primary inode`);
  const packedNid = readU64(view, at + F.packed_nid.offset);
  // 1.5 stores build_time as u64; 1.9 calls it the s64 "epoch"
  const buildTime = Number(view.getBigInt64(at + F.build_time.offset, true));
  const is48bit = (incompat & EROFS_FEATURE_INCOMPAT_48BIT) !== 0;

  // root nid and block count: rootnid_8b (and blocks_hi in the u16) only with 48BIT and rootnid_8b != 0
  let rootNid = v.root_nid;
  let blocks = v.blocks;
  const root8Lo = view.getUint32(at + F.rootnid_8b.offset, true);
  const root8Hi = view.getUint32(at + F.rootnid_8b.offset + 4, true);
  if (is48bit && (root8Lo || root8Hi)) {
    const nid = nidFromHalves(root8Hi, root8Lo);
    if (nid === null) fail(S, at + F.rootnid_8b.offset, `rootnid_8b 0x${root8Hi.toString(16)}${root8Lo.toString(16).padStart(8, '0')} names no inode`);
    rootNid = nid;
    blocks = v.blocks + v.root_nid * 0x1_0000_0000;
  }

  let metaboxNid = -1;
  if (incompat & EROFS_FEATURE_INCOMPAT_METABOX) {
    check(sbSize > EROFS_SUPER_SIZE, S, at + F.sb_extslots.offset, 'metabox needs an extended superblock (sb_extslots >= 1)');
    const e = at + EROFS_SUPER_SIZE + erofs_super_block_ext.f.metabox_nid.offset;
    const hi = view.getUint32(e + 4, true);
    check(hi < 0x40000, 'erofs.superblock_ext', e, `metabox_nid 0x${hi.toString(16)}${view.getUint32(e, true).toString(16).padStart(8, '0')} names no primary inode`);
    metaboxNid = readU64(view, e);
  }

  check(v.meta_blkaddr * bs < imageSize, S, at + F.meta_blkaddr.offset, `meta_blkaddr ${v.meta_blkaddr} is past the image end`);
  check(v.xattr_blkaddr * bs <= imageSize, S, at + F.xattr_blkaddr.offset, `xattr_blkaddr ${v.xattr_blkaddr} is past the image end`);

  // compression configs (only with COMPR_CFGS): {le16 size; payload} per available algorithm,
  // each record starting 4-aligned, right after the superblock (its extension slots included)
  const comprCfgs: ComprCfg[] = [];
  let lz4MaxDistance = 0;
  const cfg: AlgorithmConfig = { lz4MaxPclusterBlks: 1, lzmaDictSize: 0, deflateWindowBits: 15, zstdWindowLog: 0 };
  let availableComprAlgs = 0;
  if (incompat & EROFS_FEATURE_INCOMPAT_COMPR_CFGS) {
    availableComprAlgs = v.u1;
    const unknown = availableComprAlgs & ~((1 << Z_EROFS_COMPRESSION_MAX) - 1);
    if (unknown) throw new UnsupportedError('erofs compression', `available_compr_algs 0x${availableComprAlgs.toString(16)} names algorithms newer than erofs-utils 1.9.3 (0x${unknown.toString(16)})`);
    let pos = at + sbSize;
    for (let alg = 0; alg < Z_EROFS_COMPRESSION_MAX; alg++) {
      if (!(availableComprAlgs & (1 << alg))) continue;
      pos = Math.ceil(pos / 4) * 4;
      const body = pos + erofs_compr_cfg_header.size;
      check(body <= head.length, 'erofs.compr_cfg', pos, 'compression config runs past the superblock area');
      const size = view.getUint16(pos + erofs_compr_cfg_header.f.size.offset, true);
      check(size > 0 && body + size <= head.length, 'erofs.compr_cfg', pos, `compression config of ${size} bytes runs past the superblock area`);
      comprCfgs.push({ algorithm: alg, name: COMPRESSION_NAMES[alg] ?? `alg${alg}`, offset: pos, size });
      const rec = (def: { name: string; size: number }): void =>
        check(size >= def.size, def.name, pos, `${COMPRESSION_NAMES[alg]} config of ${size} bytes is shorter than ${def.size}`);
      if (alg === Z_EROFS_COMPRESSION_LZ4) {
        rec(z_erofs_lz4_cfgs);
        const c = decodeStruct(z_erofs_lz4_cfgs, head, body);
        check(c.max_pclusterblks * bs <= MAX_PCLUSTER_BYTES, 'erofs.lz4_cfgs', body + z_erofs_lz4_cfgs.f.max_pclusterblks.offset, `max_pclusterblks ${c.max_pclusterblks} exceeds ${MAX_PCLUSTER_BYTES / bs}`);
        lz4MaxDistance = c.max_distance;
        cfg.lz4MaxPclusterBlks = Math.max(1, c.max_pclusterblks);
      } else if (alg === Z_EROFS_COMPRESSION_LZMA) {
        rec(z_erofs_lzma_cfgs);
        const c = decodeStruct(z_erofs_lzma_cfgs, head, body);
        if (c.format !== 0) throw new UnsupportedError('erofs compression', `LZMA config format ${c.format} (only 0, MicroLZMA, is known)`);
        check(c.dict_size <= LZMA_MAX_DICT, 'erofs.lzma_cfgs', body + z_erofs_lzma_cfgs.f.dict_size.offset, `dict_size ${c.dict_size} exceeds ${LZMA_MAX_DICT}`);
        cfg.lzmaDictSize = c.dict_size;
      } else if (alg === Z_EROFS_COMPRESSION_DEFLATE) {
        rec(z_erofs_deflate_cfgs);
        const c = decodeStruct(z_erofs_deflate_cfgs, head, body);
        check(c.windowbits <= 15, 'erofs.deflate_cfgs', body + z_erofs_deflate_cfgs.f.windowbits.offset, `windowbits ${c.windowbits} exceeds 15`);
        cfg.deflateWindowBits = c.windowbits;
      } else if (alg === Z_EROFS_COMPRESSION_ZSTD) {
        rec(z_erofs_zstd_cfgs);
        const c = decodeStruct(z_erofs_zstd_cfgs, head, body);
        if (c.format !== 0) throw new UnsupportedError('erofs compression', `zstd config format ${c.format} (only 0 is known)`);
        check(c.windowlog <= 10, 'erofs.zstd_cfgs', body + z_erofs_zstd_cfgs.f.windowlog.offset, `windowlog ${c.windowlog} makes a window over 1 MiB`);
        cfg.zstdWindowLog = c.windowlog + 10;
      }
      pos = body + size;
    }
  } else {
    lz4MaxDistance = v.u1;
  }

  // device table: ignored entirely without the DEVICE_TABLE feature, like the kernel
  const devices: DeviceSlot[] = [];
  let extraDevices = 0;
  if (incompat & EROFS_FEATURE_INCOMPAT_DEVICE_TABLE) {
    extraDevices = v.extra_devices;
    const start = v.devt_slotoff * EROFS_DEVT_SLOT_SIZE;
    check(start + extraDevices * EROFS_DEVT_SLOT_SIZE <= imageSize, 'erofs.deviceslot', start, `${extraDevices} device slots run past the image end`);
  }
  let mask = 1;
  while (mask < extraDevices + 1) mask *= 2;

  return {
    magic: v.magic,
    checksum: v.checksum,
    computedChecksum: computed,
    featureCompat: v.feature_compat,
    featureIncompat: incompat,
    blkszbits: bits,
    blockSize: bs,
    sbExtslots: v.sb_extslots,
    sbSize,
    rootNid,
    inos,
    buildTime,
    buildTimeNsec: v.build_time_nsec,
    mkfsTime: buildTime + v.build_time_since_epoch,
    blocks,
    is48bit,
    metaboxNid,
    metaBlkaddr: v.meta_blkaddr,
    xattrBlkaddr: v.xattr_blkaddr,
    uuid: v.uuid.slice(),
    volumeName: v.volume_name.slice(),
    u1: v.u1,
    extraDevices,
    devtSlotoff: v.devt_slotoff,
    xattrPrefixCount: v.xattr_prefix_count,
    xattrPrefixStart: v.xattr_prefix_start,
    packedNid,
    availableComprAlgs,
    algorithmConfig: cfg,
    xattrFilterReserved: v.xattr_filter_reserved,
    ishareXattrPrefixId: v.ishare_xattr_prefix_id,
    lz4MaxDistance,
    lz4MaxPclusterBlks: cfg.lz4MaxPclusterBlks,
    comprCfgs,
    devices,
    deviceIdMask: mask - 1,
    raw: head.slice(at, at + sbSize),
  };
}

/** Decode the device table (`bytes` = the slots, read by the caller after parseSuperblock checked the range). */
export function parseDeviceTable(sb: Superblock, bytes: Uint8Array): DeviceSlot[] {
  const start = sb.devtSlotoff * EROFS_DEVT_SLOT_SIZE;
  const out: DeviceSlot[] = [];
  for (let i = 0; i < sb.extraDevices; i++) {
    const d = decodeStruct(erofs_deviceslot, bytes, i * EROFS_DEVT_SLOT_SIZE);
    // the high halves count only with 48BIT (older writers left garbage-free zeros there, but the kernel ignores them)
    const hi = sb.is48bit;
    out.push({
      id: i + 1, offset: start + i * EROFS_DEVT_SLOT_SIZE, tag: d.tag.slice(),
      blocks: d.blocks + (hi ? d.blocks_hi * 0x1_0000_0000 : 0),
      mappedBlkaddr: d.mapped_blkaddr + (hi ? d.uniaddr_hi * 0x1_0000_0000 : 0),
    });
  }
  return out;
}

export function uuidString(u: Uint8Array): string {
  const h = hex(u);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
