import { crc32cRaw } from '../codec/crc32c.ts';
import { check, UnsupportedError } from '../errors.ts';
import { decodeStruct, readU64 } from '../struct.ts';
import {
  COMPAT_FEATURE_NAMES,
  COMPRESSION_NAMES,
  EROFS_DEVT_SLOT_SIZE,
  EROFS_FEATURE_COMPAT_SB_CHKSUM,
  EROFS_FEATURE_INCOMPAT_CHUNKED_FILE,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS,
  EROFS_FEATURE_INCOMPAT_DEVICE_TABLE,
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  EROFS_FEATURE_INCOMPAT_ZTAILPACKING,
  EROFS_MAGIC,
  EROFS_SB_EXTSLOT_SIZE,
  EROFS_SUPER_OFFSET,
  EROFS_SUPER_SIZE,
  INCOMPAT_FEATURE_NAMES,
  Z_EROFS_COMPRESSION_LZ4,
  erofs_deviceslot,
  erofs_super_block,
  z_erofs_lz4_cfgs,
} from './structs.ts';

/** incompat bits this reader implements (everything erofs-utils 1.5 writes) */
export const SUPPORTED_INCOMPAT =
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING |
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS |
  EROFS_FEATURE_INCOMPAT_CHUNKED_FILE |
  EROFS_FEATURE_INCOMPAT_DEVICE_TABLE |
  EROFS_FEATURE_INCOMPAT_ZTAILPACKING;

/** the kernel's Z_EROFS_PCLUSTER_MAX_PAGES for 4 KiB pages: 1 MiB pclusters */
const MAX_PCLUSTER_BLKS = 256;

export interface DeviceSlot {
  /** device id used in chunk indexes (1 = first slot) */
  id: number;
  offset: number;
  tag: Uint8Array;
  blocks: number;
  mappedBlkaddr: number;
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
  rootNid: number;
  inos: number;
  buildTime: number;
  buildTimeNsec: number;
  blocks: number;
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
  check(v.magic === EROFS_MAGIC, S, at, `bad magic 0x${v.magic.toString(16)}`);
  const bits = v.blkszbits;
  check(bits >= 9 && bits <= 16, S, at + 12, `unsupported blkszbits ${bits}`);
  const bs = 2 ** bits;
  const sbSize = EROFS_SUPER_SIZE + v.sb_extslots * EROFS_SB_EXTSLOT_SIZE;
  check(sbSize <= Math.max(bs - at, at), S, at + 13, `sb_extslots ${v.sb_extslots} makes the superblock cross its block`);
  check(at + sbSize <= imageSize, S, at + 13, `superblock of ${sbSize} bytes runs past the image end`);

  const csumLen = bs > at ? bs - at : bs;
  const needed = Math.min(imageSize, Math.max(at + sbSize, at + csumLen, 4096));
  if (head.length < needed) return { needBytes: needed };

  const incompat = v.feature_incompat;
  if (incompat & ~SUPPORTED_INCOMPAT) {
    const unknown = incompat & ~SUPPORTED_INCOMPAT;
    const names = INCOMPAT_FEATURE_NAMES.filter(([b]) => unknown & b).map(([, n]) => n);
    throw new UnsupportedError('erofs feature', `incompat bits 0x${unknown.toString(16)}${names.length ? ` (${names.join(', ')})` : ''} are not supported (erofs-utils 1.5 features only)`);
  }

  let computed: number | null = null;
  if (v.feature_compat & EROFS_FEATURE_COMPAT_SB_CHKSUM) {
    check(at + csumLen <= imageSize, S, at + 4, `checksummed area of ${csumLen} bytes runs past the image end`);
    const area = head.slice(at, at + csumLen);
    area[4] = area[5] = area[6] = area[7] = 0;
    computed = crc32cRaw(0xffffffff, area);
    check(computed === v.checksum, S, at + 4, `checksum 0x${v.checksum.toString(16)} does not match the computed 0x${computed.toString(16)}`);
  }

  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  check(view.getUint32(at + 20, true) < 0x200000, S, at + 16, 'inode count does not fit in 53 bits');
  check(view.getUint32(at + 100, true) < 0x200000, S, at + 96, 'packed_nid does not fit in 53 bits');
  const inos = readU64(view, at + 16);
  const packedNid = readU64(view, at + 96);
  // 1.5 stores build_time as u64; newer images treat it as s64 "epoch"
  const buildTime = Number(view.getBigInt64(at + 24, true));

  check(v.meta_blkaddr * bs < imageSize, S, at + 40, `meta_blkaddr ${v.meta_blkaddr} is past the image end`);
  check(v.xattr_blkaddr * bs <= imageSize, S, at + 44, `xattr_blkaddr ${v.xattr_blkaddr} is past the image end`);

  // compression configs (only with COMPR_CFGS): {le16 size; payload} per available algorithm,
  // each record starting 4-aligned, right after the superblock
  const comprCfgs: ComprCfg[] = [];
  let lz4MaxDistance = 0;
  let lz4MaxPclusterBlks = 1;
  let availableComprAlgs = 0;
  if (incompat & EROFS_FEATURE_INCOMPAT_COMPR_CFGS) {
    availableComprAlgs = v.u1;
    let pos = at + sbSize;
    for (let alg = 0; alg < 16; alg++) {
      if (!(availableComprAlgs & (1 << alg))) continue;
      pos = Math.ceil(pos / 4) * 4;
      check(pos + 2 <= head.length, 'erofs.compr_cfg', pos, 'compression config runs past the first block');
      const size = view.getUint16(pos, true);
      check(size > 0 && pos + 2 + size <= head.length, 'erofs.compr_cfg', pos, `compression config of ${size} bytes runs past the first block`);
      comprCfgs.push({ algorithm: alg, name: COMPRESSION_NAMES[alg] ?? `alg${alg}`, offset: pos, size });
      if (alg === Z_EROFS_COMPRESSION_LZ4) {
        check(size >= z_erofs_lz4_cfgs.size, 'erofs.lz4_cfgs', pos, `lz4 config of ${size} bytes is shorter than ${z_erofs_lz4_cfgs.size}`);
        const c = decodeStruct(z_erofs_lz4_cfgs, head, pos + 2);
        check(c.max_pclusterblks <= MAX_PCLUSTER_BLKS, 'erofs.lz4_cfgs', pos + 4, `max_pclusterblks ${c.max_pclusterblks} exceeds ${MAX_PCLUSTER_BLKS}`);
        lz4MaxDistance = c.max_distance;
        lz4MaxPclusterBlks = Math.max(1, c.max_pclusterblks);
      }
      pos += 2 + size;
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
    rootNid: v.root_nid,
    inos,
    buildTime,
    buildTimeNsec: v.build_time_nsec,
    blocks: v.blocks,
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
    lz4MaxDistance,
    lz4MaxPclusterBlks,
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
    out.push({ id: i + 1, offset: start + i * EROFS_DEVT_SLOT_SIZE, tag: d.tag.slice(), blocks: d.blocks, mappedBlkaddr: d.mapped_blkaddr });
  }
  return out;
}

export function uuidString(u: Uint8Array): string {
  const h = Array.from(u, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
