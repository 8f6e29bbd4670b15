// Builds a deterministic source tree with every file type EROFS can hold (run as root: mknod,
// chown, trusted.* xattrs). Contents come from a seeded PRNG, so two calls make identical trees.
// Node has no mknod/setxattr/nanosecond lutimes, so those steps go to one python3 process.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32cRaw } from '../../src/lib/codec/crc32c.ts';
import { tempDir } from './paths.ts';
import { hexOf } from './hex.ts';

/**
 * `size` bytes of this machine's /usr/bin programs in name order, skipping the first `skip` files:
 * real machine code for codec tests (the same bytes on every run on one machine).
 */
export function usrBinBytes(size: number, skip = 0): Uint8Array {
  const out = new Uint8Array(size);
  let o = 0;
  let seen = 0;
  for (const name of readdirSync('/usr/bin').sort()) {
    const p = join('/usr/bin', name);
    const st = lstatSync(p);
    if (!st.isFile() || st.size === 0 || seen++ < skip) continue;
    const b = readFileSync(p);
    const n = Math.min(b.length, size - o);
    out.set(b.subarray(0, n), o);
    o += n;
    if (o === size) return out;
  }
  throw new Error(`/usr/bin holds less than ${size} bytes`);
}

/** mulberry32: small, fast, deterministic */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rnd: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = (rnd() * 4294967296) >>> 0;
    b[i] = v & 0xff;
    if (i + 1 < n) b[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < n) b[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < n) b[i + 3] = v >>> 24;
  }
  return b;
}

const WORDS = ['erofs', 'layer', 'block', 'inode', 'cluster', 'the', 'of', 'compress', 'data', 'image', 'scope', 'chunk', 'tail', 'lz4', 'xattr', 'dirent'];
/** compressible text made of words, with a line number so it is not trivially periodic */
export function textBytes(rnd: () => number, n: number): Uint8Array {
  let s = '';
  let line = 0;
  while (s.length < n) {
    s += `${line++}:`;
    const k = 4 + Math.floor(rnd() * 10);
    for (let i = 0; i < k; i++) s += ' ' + WORDS[Math.floor(rnd() * WORDS.length)];
    s += '\n';
  }
  return new TextEncoder().encode(s.slice(0, n));
}

interface Op {
  kind: 'fifo' | 'sock' | 'node' | 'xattr' | 'own' | 'mode' | 'time';
  path: string;
  args: (number | string)[];
}

const PY = String.raw`
import os, sys, json, socket
ops = json.load(sys.stdin)
def P(h): return bytes.fromhex(h)
late = []
for op in ops:
    k, p, a = op['kind'], P(op['path']), op['args']
    if k == 'fifo': os.mkfifo(p, 0o644)
    elif k == 'sock':
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(p); s.close()
    elif k == 'node': os.mknod(p, a[0], os.makedev(a[1], a[2]))
    elif k == 'xattr': os.setxattr(p, P(a[0]), P(a[1]), follow_symlinks=False)
    elif k == 'own': os.chown(p, a[0], a[1], follow_symlinks=False)
    elif k == 'mode': os.chmod(p, a[0])
    elif k == 'time': late.append((p, a))
# deepest paths first so setting a child's time does not disturb its parent's
late.sort(key=lambda x: -x[0].count(b'/'))
for p, a in late:
    os.utime(p, ns=(a[0] * 10**9 + a[1], a[0] * 10**9 + a[1]), follow_symlinks=False)
`;

export interface TreeOptions {
  /** where to build (a fresh temp dir by default); must not exist or be empty */
  dir?: string;
  seed?: number;
  /** include uid/gid above 65535 (default true); mkfs -Eforce-inode-compact refuses them */
  bigIds?: boolean;
  /** a smaller tree (largest file 70000 bytes, 120 entries in many/) for the corruption sweep */
  small?: boolean;
}

/**
 * Make the test tree and return its root. Layout (all deterministic):
 * sizes 0/1/4095/4096/4097/100000/1MiB+1 as text and random, a half-random file, zeros, `many/`
 * with 360 entries (names of 28 to ~100 bytes, some sorting before "."; 4 dirent blocks), `d1/d2/d3`, symlinks of 5 and
 * 2600 bytes, two hardlink groups, fifo, socket, chr 1:3, blk 7:0, a 0:0 whiteout, xattrs in user.,
 * trusted. and security. (one pair on 6 inodes, a 1000-byte value), mixed uid/gid/mode/mtime-ns.
 */
export function makeTestTree(opts: TreeOptions = {}): string {
  const root = opts.dir ?? join(tempDir('ls-tree-'), 'src');
  mkdirSync(root, { recursive: true });
  const rnd = prng(opts.seed ?? 20261122);
  const ops: Op[] = [];
  const all: string[] = [];
  const p = (rel: string) => join(root, rel);
  const file = (rel: string, data: Uint8Array) => {
    writeFileSync(p(rel), data);
    all.push(rel);
  };
  const dir = (rel: string) => {
    mkdirSync(p(rel), { recursive: true });
    all.push(rel);
  };
  const op = (kind: Op['kind'], rel: string, ...args: (number | string)[]) => ops.push({ kind, path: hexOf(p(rel)), args });
  const xattr = (rel: string, name: string, value: Uint8Array | string) => op('xattr', rel, hexOf(name), hexOf(value));

  const small = opts.small ?? false;
  for (const n of small ? [0, 1, 4095, 4096, 4097, 70000] : [0, 1, 4095, 4096, 4097, 100000, 1048577]) {
    file(`t${n}`, textBytes(rnd, n));
    file(`r${n}`, randomBytes(rnd, n));
  }
  // alternating 16 KiB random / text runs: compressed images mix PLAIN and LZ4 pclusters here
  const mixed = new Uint8Array((small ? 96 : 320) * 1024);
  for (let o = 0; o < mixed.length; o += 16384) mixed.set((o / 16384) % 2 ? textBytes(rnd, 16384) : randomBytes(rnd, 16384), o);
  file('mixed', mixed);
  file('zeros', new Uint8Array(small ? 50000 : 300000));

  dir('many');
  for (let i = 0; i < (small ? 120 : 360); i++) {
    const long = i % 17 === 0 ? '-' + 'x'.repeat(60 + (i % 40)) : '-entry-with-a-longer-name';
    const name = `${i % 29 === 0 ? '!' : ''}f${String(i).padStart(3, '0')}${long}`;
    if (i % 45 === 0) dir(`many/${name}`);
    else file(`many/${name}`, i % 3 ? textBytes(rnd, Math.floor(rnd() * 300)) : randomBytes(rnd, Math.floor(rnd() * 300)));
  }
  dir('d1/d2/d3');
  all.push('d1', 'd1/d2');
  file('d1/d2/d3/deep.txt', textBytes(rnd, 5000));
  file('d1/d2/small', textBytes(rnd, 30));
  // a name that is not UTF-8
  const latin1 = Buffer.concat([Buffer.from(p('d1') + '/'), Buffer.from([0xe9, 0x74, 0xe9])]);
  writeFileSync(latin1, textBytes(rnd, 10));
  ops.push({ kind: 'time', path: hexOf(latin1), args: [1_234_567_890, 5] });

  symlinkSync('t4095', p('link-short'));
  all.push('link-short');
  const longTarget = Array.from({ length: 260 }, (_, i) => `seg${String(i).padStart(5, '0')}`).join('/').slice(0, 2600);
  symlinkSync(longTarget, p('link-long'));
  all.push('link-long');
  symlinkSync('../../t1', p('d1/d2/up'));
  all.push('d1/d2/up');

  file('hard-a', textBytes(rnd, 9000));
  linkSync(p('hard-a'), p('many/hard-a-2'));
  linkSync(p('hard-a'), p('d1/hard-a-3'));
  file('hard-b', randomBytes(rnd, 5000));
  linkSync(p('hard-b'), p('d1/d2/hard-b-2'));

  op('fifo', 'fifo');
  op('sock', 'sock');
  op('node', 'chr', 0o20644, 1, 3);
  op('node', 'blk', 0o60660, 7, 0);
  op('node', 'whiteout', 0o20000, 0, 0);
  op('node', 'd1/bigdev', 0o20600, 300, 70000);
  all.push('fifo', 'sock', 'chr', 'blk', 'whiteout', 'd1/bigdev');

  // xattrs: one pair on 6 inodes (shared by mkfs -x2), per-file values, 1000-byte value
  for (const rel of ['t1', 't4096', 'r4097', 'many/f001-entry-with-a-longer-name', 'd1/d2/d3', 'hard-a']) xattr(rel, 'user.shared', 'shared value');
  for (const rel of ['t4095', 'r4095', 'many/f002-entry-with-a-longer-name', 'd1']) xattr(rel, 'security.selinux', 'system_u:object_r:etc_t:s0\0');
  xattr('t0', 'user.comment', 'empty file');
  xattr(small ? 't70000' : 't100000', 'trusted.big', randomBytes(rnd, 1000));
  xattr('d1', 'trusted.overlay.opaque', 'y');
  xattr('link-short', 'trusted.link', 'on a symlink');
  xattr('chr', 'trusted.dev', new Uint8Array([0, 1, 2, 0]));
  xattr('many', 'user.empty', '');
  for (let i = 0; i < 4; i++) xattr('r1', `user.k${i}`, `v${i}`.repeat(i * 10 + 1));
  // POSIX ACLs (EROFS prefix indexes 2 and 3): version 2, then {le16 tag, le16 perm, le32 id}
  const acl = (entries: [number, number, number][]) => {
    const b = Buffer.alloc(4 + entries.length * 8);
    b.writeUInt32LE(2, 0);
    entries.forEach(([tag, perm, id], i) => {
      b.writeUInt16LE(tag, 4 + i * 8);
      b.writeUInt16LE(perm, 6 + i * 8);
      b.writeUInt32LE(id, 8 + i * 8);
    });
    return new Uint8Array(b);
  };
  const U = 0xffffffff;
  xattr('t4096', 'system.posix_acl_access', acl([[1, 6, U], [2, 7, 1000], [4, 4, U], [0x10, 7, U], [0x20, 0, U]]));
  xattr('d1/d2', 'system.posix_acl_default', acl([[1, 7, U], [4, 5, U], [0x20, 5, U]]));

  // ownership and modes
  op('own', 't1', 1000, 1000);
  op('own', 'r4096', 65534, 65534);
  if (opts.bigIds ?? true) op('own', 't4097', 70000, 70001);
  else op('own', 't4097', 7000, 7001);
  op('own', 'link-short', 123, 456);
  op('own', 'many/f010-entry-with-a-longer-name', 1, 2);
  op('mode', 't4096', 0o600);
  op('mode', 'r1', 0o4755);
  op('mode', 'many/f003-entry-with-a-longer-name', 0o000);
  op('mode', 'd1/d2', 0o1777);
  op('mode', 'r0', 0o751);

  // mtimes: seconds in 2001..2030 with nanoseconds, for every entry and the root
  for (const rel of [...all, 'fifo', 'sock']) {
    if (rel === 'fifo' || rel === 'sock') continue;
    op('time', rel, 1_000_000_000 + Math.floor(rnd() * 900_000_000), Math.floor(rnd() * 1e9));
  }
  op('time', 'fifo', 1_500_000_000, 123456789);
  op('time', 'sock', 1_500_000_001, 1);
  op('time', '.', 1_600_000_000, 999999999);

  const r = spawnSync('python3', ['-c', PY], { input: JSON.stringify(ops), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mktree python step failed: ${r.stderr}`);
  return root;
}

/** The mkfs.erofs 1.5 option sets the matrix test covers. BLOB stands for a --blobdev path. */
export const MKFS_VARIANTS: readonly { name: string; args: readonly string[]; compact?: boolean; blob?: boolean }[] = [
  { name: 'default', args: [] },
  { name: 'compact', args: ['-Eforce-inode-compact'], compact: true },
  { name: 'extended', args: ['-Eforce-inode-extended'] },
  { name: 'noinline', args: ['-Enoinline_data'] },
  { name: 'chunk4k', args: ['--chunksize=4096'] },
  { name: 'chunk4k-idx', args: ['--chunksize=4096', '-Eforce-chunk-indexes'] },
  { name: 'chunk64k', args: ['--chunksize=65536'] },
  { name: 'blob', args: ['--chunksize=4096', '--blobdev=BLOB'], blob: true },
  { name: 'lz4', args: ['-zlz4'] },
  { name: 'lz4hc', args: ['-zlz4hc'] },
  { name: 'lz4hc12-bigpcl', args: ['-zlz4hc,12', '-C65536'] },
  { name: 'lz4hc-ztail', args: ['-zlz4hc', '-Eztailpacking'] },
  { name: 'lz4-legacy', args: ['-zlz4', '-Elegacy-compress'] },
];

export interface BuiltImage {
  name: string;
  image: string;
  /** --blobdev output, if any */
  blob?: string;
  /** the source tree the image was made from */
  src: string;
  /** compact inodes: every mtime is the build time */
  compact: boolean;
}

/**
 * Build every MKFS_VARIANTS image (or those named in `only`) under `dir` from the test trees
 * (the compact variant gets a tree without ids > 65535). Images already present are reused.
 */
export function buildErofsImages(dir: string = tempDir('ls-erofs-'), opts: { only?: readonly string[]; small?: boolean } = {}): BuiltImage[] {
  const { only, small = false } = opts;
  const srcMain = join(dir, 'src');
  const srcSmallIds = join(dir, 'src-small-ids');
  if (!existsSync(srcMain)) makeTestTree({ dir: srcMain, small });
  const out: BuiltImage[] = [];
  for (const v of MKFS_VARIANTS) {
    if (only && !only.includes(v.name)) continue;
    const src = v.compact ? srcSmallIds : srcMain;
    if (v.compact && !existsSync(srcSmallIds)) makeTestTree({ dir: srcSmallIds, bigIds: false, small });
    const image = join(dir, `${v.name}.erofs`);
    const blob = v.blob ? join(dir, `${v.name}.blob`) : undefined;
    if (!existsSync(image)) {
      const args = v.args.map((a) => a.replace('BLOB', blob ?? ''));
      execFileSync('mkfs.erofs', ['--quiet', ...args, image, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    out.push({ name: v.name, image, ...(blob ? { blob } : {}), src, compact: !!v.compact });
  }
  return out;
}

/**
 * Recompute the EROFS superblock checksum in place when compat SB_CHKSUM is set, so a corruption
 * sweep's superblock mutations reach the field parsers instead of stopping at the checksum.
 */
export function fixErofsSuperblockChecksum(b: Uint8Array): void {
  if (b.length < 1024 + 128) return;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(1024, true) !== 0xe0f5e1e2 || !(v.getUint32(1032, true) & 1)) return;
  const bits = b[1036]!;
  if (bits < 11 || bits > 16 || b.length < 2 ** bits) return;
  const area = b.slice(1024, 2 ** bits);
  area.fill(0, 4, 8);
  v.setUint32(1028, crc32cRaw(0xffffffff, area), true);
}
