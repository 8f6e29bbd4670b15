// A real Linux kernel as a test oracle: boot Debian's cloud kernel under QEMU (TCG) with a tiny
// initramfs (busybox-static, the kernel's own erofs/virtio modules, /init from
// scripts/kernel/init.sh, and scripts/kernel/lsx.c compiled with `gcc -static` when glibc's static
// libraries exist), attach images as read-only virtio disks, mount each with `mount -t erofs` and
// print what the kernel shows: a manifest of every entry. `readerManifest` makes the same manifest
// from a ReadOnlyFs, `compareManifests` lists the differences, `assertKernelMatches` does it all.
//
// Needs the Debian packages qemu-system-x86, linux-image-cloud-amd64 and busybox-static
// (scripts/ensure-deps.sh installs them); `kernelAvailable()` says whether they are there.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { readdirAll } from '../../src/lib/fs/path.ts';
import { major, minor, type ReadOnlyFs } from '../../src/lib/fs/types.ts';
import { REPO, tempDir } from './paths.ts';
import { hex } from '../../src/lib/bytes.ts';

const KERNEL_SCRIPTS = join(REPO, 'scripts/kernel');
const QEMU = 'qemu-system-x86_64';
/** the guest modules the oracle needs, with their modules.dep dependencies loaded first */
const WANTED_MODULES = ['virtio_pci', 'virtio_blk', 'erofs'];
/** image disks per boot: the pc machine's bus 0 has 32 slots, a few are taken, one is the output disk */
export const MAX_DISKS_PER_BOOT = 23;
/** the guest writes its manifests to a sparse disk of this size (a serial port under TCG is ~100 KB/s) */
const OUT_DISK_BYTES = 1 << 30;

// ---------------------------------------------------------------------------------------------
// finding the pieces

function onPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  return null;
}

/** true when an ELF file has no PT_INTERP program header (a static binary runs in the initramfs) */
function isStaticElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) !== 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    if (phentsize < 4 || phnum > 256) return false;
    const ph = Buffer.alloc(phentsize * phnum);
    if (readSync(fd, ph, 0, ph.length, phoff) !== ph.length) return false;
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

interface KernelPick {
  vmlinuz: string;
  version: string;
  modDir: string;
}

/** newest /boot/vmlinuz-* whose /lib/modules tree exists; cloud kernels first. LAYERSCOPE_KERNEL overrides. */
function findKernel(): KernelPick | null {
  const pick = (vmlinuz: string): KernelPick | null => {
    const version = vmlinuz.replace(/^.*\/vmlinuz-/, '');
    const modDir = `/lib/modules/${version}`;
    return existsSync(vmlinuz) && existsSync(join(modDir, 'modules.dep')) ? { vmlinuz, version, modDir } : null;
  };
  const forced = process.env.LAYERSCOPE_KERNEL;
  if (forced) return pick(resolve(forced));
  let names: string[] = [];
  try {
    names = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return null;
  }
  const score = (n: string) => (n.includes('-cloud-') ? 1 : 0);
  names.sort((a, b) => score(b) - score(a) || b.localeCompare(a, 'en', { numeric: true }));
  for (const n of names) {
    const k = pick(join('/boot', n));
    if (k) return k;
  }
  return null;
}

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

/** null when the oracle can run here, else why not (for t.skip) */
export function kernelUnavailableReason(): string | null {
  if (!onPath(QEMU)) return `${QEMU} not found (Debian package qemu-system-x86)`;
  const k = findKernel();
  if (!k) return 'no /boot/vmlinuz-* with its /lib/modules tree (Debian package linux-image-cloud-amd64)';
  if (!BUSYBOX_CANDIDATES.some(isStaticElf)) return 'no statically linked busybox (Debian package busybox-static)';
  try {
    moduleLoadOrder(k.modDir);
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

export function kernelAvailable(): boolean {
  return kernelUnavailableReason() === null;
}

/** modules.dep paths (relative to modDir) in load order; built-in modules are left out */
function moduleLoadOrder(modDir: string): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(modDir, 'modules.dep'), 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    deps.set(line.slice(0, i), line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
  }
  const builtin = existsSync(join(modDir, 'modules.builtin')) ? readFileSync(join(modDir, 'modules.builtin'), 'utf8').split('\n') : [];
  const modName = (p: string) => p.replace(/^.*\//, '').replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
  const byName = new Map([...deps.keys()].map((p) => [modName(p), p]));
  const builtinNames = new Set(builtin.map(modName));
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (p: string, depth: number) => {
    if (seen.has(p) || depth > 64) return;
    seen.add(p);
    for (const d of deps.get(p) ?? []) visit(d, depth + 1);
    order.push(p);
  };
  for (const m of WANTED_MODULES) {
    if (builtinNames.has(m)) continue;
    const p = byName.get(m);
    if (!p) throw new Error(`kernel module ${m} is neither in ${modDir}/modules.dep nor built in`);
    visit(p, 0);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// the initramfs

interface CpioEntry {
  name: string;
  mode: number;
  data?: Uint8Array;
  rdev?: [number, number];
}

/** SVR4 "newc" cpio (what the kernel unpacks): 110-byte ASCII header, name, data, 4-byte padding */
export function writeNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    len += b.length;
    const pad = (4 - (len % 4)) % 4;
    if (pad) {
      parts.push(Buffer.alloc(pad));
      len += pad;
    }
  };
  const h8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }] as CpioEntry[]) {
    const data = e.data ?? new Uint8Array(0);
    const name = Buffer.from(e.name + '\0');
    const isTrailer = e.name === 'TRAILER!!!';
    const fields = [isTrailer ? 0 : ino++, e.mode, 0, 0, e.mode >>> 12 === 0o04 ? 2 : 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    push(Buffer.concat([Buffer.from('070701' + fields.map(h8).join('')), name]));
    if (data.length) push(Buffer.from(data));
  }
  return Buffer.concat(parts);
}

function readModule(path: string): Uint8Array {
  if (path.endsWith('.ko')) return readFileSync(path);
  // busybox insmod loads plain ELF only: decompress when building the initramfs
  if (path.endsWith('.xz')) return execFileSync('xz', ['-dc', path], { maxBuffer: 1 << 28 });
  if (path.endsWith('.zst')) return execFileSync('zstd', ['-dcq', path], { maxBuffer: 1 << 28 });
  if (path.endsWith('.gz')) return execFileSync('gzip', ['-dc', path], { maxBuffer: 1 << 28 });
  throw new Error(`unknown module compression: ${path}`);
}

/** compile scripts/kernel/lsx.c statically; null when gcc or glibc's libc.a is missing */
function compileHelper(dir: string): Uint8Array | null {
  if (process.env.LAYERSCOPE_KERNEL_NO_HELPER === '1' || !onPath('gcc')) return null;
  const out = join(dir, 'lsx');
  try {
    execFileSync('gcc', ['-O2', '-static', '-s', '-o', out, join(KERNEL_SCRIPTS, 'lsx.c')], { stdio: 'pipe' });
    return readFileSync(out);
  } catch {
    return null;
  }
}

export interface Initramfs {
  path: string;
  /** the lsx helper also built for this host (null without gcc/libc.a): see hostManifest */
  lsx: string | null;
  kernel: string;
  kernelVersion: string;
  /** false: the busybox-only walk (no xattrs, no dirent types) */
  helper: boolean;
}

let initramfsMemo: Initramfs | undefined;
/** bump when the cache directory's contents change shape */
const CACHE_LAYOUT = 2;

/**
 * Build (once per kernel/busybox/script version, cached under the temp dir) the initramfs and
 * return it with the kernel to boot. LAYERSCOPE_KERNEL_CACHE overrides the cache directory.
 */
export function buildInitramfs(): Initramfs {
  if (initramfsMemo) return initramfsMemo;
  const why = kernelUnavailableReason();
  if (why) throw new Error(`kernel oracle unavailable: ${why}`);
  const k = findKernel()!;
  const busybox = BUSYBOX_CANDIDATES.find(isStaticElf)!;
  const mods = moduleLoadOrder(k.modDir);
  const init = readFileSync(join(KERNEL_SCRIPTS, 'init.sh'));
  const lsxSrc = readFileSync(join(KERNEL_SCRIPTS, 'lsx.c'));
  const noHelper = process.env.LAYERSCOPE_KERNEL_NO_HELPER === '1';
  const bb = statSync(busybox);
  const key = createHash('sha256')
    .update(JSON.stringify([CACHE_LAYOUT, k.version, busybox, bb.size, bb.mtimeMs, mods, noHelper, statSync(k.vmlinuz).mtimeMs]))
    .update(init)
    .update(lsxSrc)
    .digest('hex')
    .slice(0, 16);
  const cacheRoot = process.env.LAYERSCOPE_KERNEL_CACHE ?? join(tmpdir(), 'layerscope-kernel-cache');
  const dir = join(cacheRoot, key);
  const path = join(dir, 'initramfs.cpio');
  const meta = join(dir, 'meta.json');
  if (existsSync(path) && existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { helper: boolean };
    const lsx = m.helper && existsSync(join(dir, 'lsx')) ? join(dir, 'lsx') : null;
    return (initramfsMemo = { path, lsx, kernel: k.vmlinuz, kernelVersion: k.version, helper: m.helper });
  }
  mkdirSync(dir, { recursive: true });
  const work = tempDir('ls-initramfs-');
  try {
    const helper = compileHelper(work);
    const D = 0o040755;
    const entries: CpioEntry[] = [];
    const dirs = new Set<string>();
    const mkdirs = (p: string) => {
      const parts = p.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (!dirs.has(d)) {
          dirs.add(d);
          entries.push({ name: d, mode: D });
        }
      }
    };
    for (const d of ['bin', 'dev', 'proc', 'sys', 'mnt', 'tmp', 'lib/modules']) mkdirs(d);
    // the kernel opens /dev/console for init's stdio before anything is mounted
    entries.push({ name: 'dev/console', mode: 0o020600, rdev: [5, 1] });
    entries.push({ name: 'dev/null', mode: 0o020666, rdev: [1, 3] });
    entries.push({ name: 'bin/busybox', mode: 0o100755, data: readFileSync(busybox) });
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
    for (const a of applets) entries.push({ name: `bin/${a}`, mode: 0o120777, data: Buffer.from('busybox') });
    if (helper) entries.push({ name: 'bin/lsx', mode: 0o100755, data: helper });
    entries.push({ name: 'init', mode: 0o100755, data: init });
    for (const m of mods) {
      const name = m.replace(/\.(xz|zst|gz)$/, '');
      mkdirs(`lib/modules/${name.replace(/\/[^/]*$/, '')}`);
      entries.push({ name: `lib/modules/${name}`, mode: 0o100644, data: readModule(join(k.modDir, m)) });
    }
    entries.push({ name: 'modules.order', mode: 0o100644, data: Buffer.from(mods.map((m) => m.replace(/\.(xz|zst|gz)$/, '')).join('\n') + '\n') });
    // write then rename, so concurrent test processes never see half a file
    if (helper) {
      writeFileSync(join(dir, `lsx.${process.pid}.tmp`), helper, { mode: 0o755 });
      renameSync(join(dir, `lsx.${process.pid}.tmp`), join(dir, 'lsx'));
    }
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, writeNewc(entries));
    writeFileSync(`${meta}.${process.pid}.tmp`, JSON.stringify({ helper: !!helper, kernel: k.vmlinuz, modules: mods }));
    renameSync(tmp, path);
    renameSync(`${meta}.${process.pid}.tmp`, meta);
    return (initramfsMemo = { path, lsx: helper ? join(dir, 'lsx') : null, kernel: k.vmlinuz, kernelVersion: k.version, helper: !!helper });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// manifests

export interface ManifestEntry {
  /** hex of the path bytes from the root ("a/b" joined with "/"); "" for the root */
  path: string;
  ino: number;
  type: string;
  /** st_mode including the type bits */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** "<sec>.<nsec, 9 digits>" */
  mtime: string;
  /** "major:minor" */
  rdev: string;
  /** the dirent's type from readdir ("-" for the root, "?" when unknown) */
  dtype: string;
  /** symlink target, hex; null for other types; "!<errno>" when readlink failed */
  target: string | null;
  /** sha256 of the content of a regular file; null otherwise; "!<errno>" when reading failed */
  sha256: string | null;
  /** hex name -> hex value ("!<errno>" when getxattr failed); null when not known (busybox walk) */
  xattrs: Record<string, string> | null;
  /** set when lstat itself failed */
  error?: string;
}

export interface Manifest {
  statfs: { bsize: number; blocks: number; inodes: number; nameMax: number } | { error: string };
  /** depth-first, each directory in readdir order */
  entries: ManifestEntry[];
  /** directories whose opendir/readdir failed: hex path -> "!<errno>" */
  dirErrors: Record<string, string>;
}

export type KernelManifest = Manifest & { kernelVersion: string; helper: boolean };

function parseXattrs(s: string): Record<string, string> | null {
  if (s === '?') return null;
  const out: Record<string, string> = {};
  if (s === '-') return out;
  if (s.startsWith('!')) return { '!listxattr': s };
  for (const kv of s.split(',')) {
    const i = kv.indexOf('=');
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Parse the lines of one job (the lsx format, without the "@@LS-L " prefix). */
export function parseLsx(lines: string[]): Manifest {
  const m: Manifest = { statfs: { error: 'no S line' }, entries: [], dirErrors: {} };
  let trailer: number | undefined;
  for (const line of lines) {
    const f = line.split(' ');
    if (f[0] === 'S') {
      if (f[1]?.startsWith('!')) m.statfs = { error: f[1] };
      else {
        // erofs reports f_files = ULLONG_MAX and f_ffree = ULLONG_MAX - inos: the inode count is the difference
        const inodes = BigInt(f[3]!) - BigInt(f[4]!);
        m.statfs = { bsize: Number(f[1]), blocks: Number(f[2]), inodes: Number(inodes), nameMax: Number(f[5]) };
      }
    } else if (f[0] === 'E') {
      const path = f[1] === '-' ? '' : f[1]!;
      if (f.length === 3 && f[2]!.startsWith('!')) {
        m.entries.push({ path, ino: -1, type: '?', mode: 0, uid: 0, gid: 0, size: 0, nlink: 0, mtime: '', rdev: '', dtype: '?', target: null, sha256: null, xattrs: null, error: `lstat ${f[2]}` });
        continue;
      }
      if (f.length !== 15) throw new Error(`malformed manifest line (${f.length} fields): ${line.slice(0, 200)}`);
      m.entries.push({
        path,
        ino: Number(f[2]),
        type: f[3]!,
        mode: parseInt(f[4]!, 8),
        uid: Number(f[5]),
        gid: Number(f[6]),
        size: Number(f[7]),
        nlink: Number(f[8]),
        mtime: f[9]!,
        rdev: f[10]!,
        dtype: f[11]!,
        target: f[12] === '-' ? null : f[12]!,
        sha256: f[13] === '-' ? null : f[13]!,
        xattrs: parseXattrs(f[14]!),
      });
    } else if (f[0] === 'D') {
      m.dirErrors[f[1] === '-' ? '' : f[1]!] = f[2]!;
    } else if (f[0] === 'T') {
      trailer = Number(f[1]);
    } else throw new Error(`unknown manifest line: ${line.slice(0, 200)}`);
  }
  if (trailer === undefined) throw new Error(`manifest has no trailer (lines lost?) after ${m.entries.length} entries`);
  if (trailer !== m.entries.length) throw new Error(`manifest trailer says ${trailer} entries, ${m.entries.length} arrived`);
  return m;
}

const SLASH = Buffer.from('/');

/** files larger than this are hashed over their first this many bytes ("~<sha256>"), kernel and reader alike */
export const DEFAULT_MAX_HASH_BYTES = 64 * 1024 * 1024;

/** The manifest of our reader's view: same walk order (readdir order), same fields as the kernel's. */
export async function readerManifest(fs: ReadOnlyFs, opts: { maxHashBytes?: number } = {}): Promise<Manifest> {
  const maxHash = opts.maxHashBytes ?? DEFAULT_MAX_HASH_BYTES;
  const entries: ManifestEntry[] = [];
  const dirErrors: Record<string, string> = {};
  const fail = (e: unknown) => `!${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`;
  const seenDirs = new Set<number>();
  const visit = async (ino: number, path: Uint8Array[], dtype: string): Promise<void> => {
    const p = hex(Buffer.concat(path.flatMap((c, i) => (i ? [SLASH, Buffer.from(c)] : [Buffer.from(c)]))));
    let a;
    try {
      a = await fs.getattr(ino);
    } catch (e) {
      entries.push({ path: p, ino: -1, type: '?', mode: 0, uid: 0, gid: 0, size: 0, nlink: 0, mtime: '', rdev: '', dtype, target: null, sha256: null, xattrs: null, error: `getattr ${fail(e)}` });
      return;
    }
    const e: ManifestEntry = {
      path: p,
      ino: a.ino,
      type: a.type,
      mode: a.mode,
      uid: a.uid,
      gid: a.gid,
      size: a.size,
      nlink: a.nlink,
      mtime: `${a.mtime}.${String(a.mtimeNsec).padStart(9, '0')}`,
      rdev: `${major(a.rdev)}:${minor(a.rdev)}`,
      dtype,
      target: null,
      sha256: null,
      xattrs: {},
    };
    if (a.type === 'symlink') {
      try {
        e.target = hex(await fs.readlink(a.ino));
      } catch (err) {
        e.target = fail(err);
      }
    }
    if (a.type === 'reg') {
      try {
        const h = createHash('sha256');
        const step = 1 << 20;
        const end = Math.min(a.size, maxHash);
        for (let off = 0; off < end; off += step) {
          const want = Math.min(step, end - off);
          const chunk = await fs.read(a.ino, off, want);
          if (chunk.length !== want) throw new Error(`short read at ${off}: ${chunk.length} of ${want} bytes`);
          h.update(chunk);
        }
        e.sha256 = (a.size > maxHash ? '~' : '') + h.digest('hex');
      } catch (err) {
        e.sha256 = fail(err);
      }
    }
    try {
      for (const name of await fs.listxattr(a.ino)) {
        let v: string;
        try {
          const val = await fs.getxattr(a.ino, name);
          v = val === null ? '!null' : hex(val);
        } catch (err) {
          v = fail(err);
        }
        e.xattrs![hex(name)] = v;
      }
    } catch (err) {
      e.xattrs = { '!listxattr': fail(err) };
    }
    entries.push(e);
    if (a.type !== 'dir' || seenDirs.has(a.ino)) return;
    seenDirs.add(a.ino);
    let list;
    try {
      list = await readdirAll(fs, a.ino);
    } catch (err) {
      dirErrors[p] = fail(err);
      return;
    }
    for (const d of list) await visit(d.ino, [...path, d.name], d.type);
  };
  await visit(fs.rootIno, [], '-');
  let statfs: Manifest['statfs'];
  try {
    const s = await fs.statfs();
    statfs = { bsize: s.blockSize, blocks: s.blocks, inodes: s.files, nameMax: s.nameMax };
  } catch (err) {
    statfs = { error: fail(err) };
  }
  return { statfs, entries, dirErrors };
}

/**
 * The manifest of a directory on this host, made by the same lsx helper the guest runs: the source
 * tree an image was built from. Compare it with `sourceCompare` options (inode numbers, directory
 * sizes, statfs and readdir order are the host filesystem's own). Null when lsx could not be built.
 */
export function hostManifest(dir: string, opts: { maxHashBytes?: number } = {}): Manifest | null {
  const { lsx } = buildInitramfs();
  if (!lsx) return null;
  const out = execFileSync(lsx, ['-m', String(Math.floor(opts.maxHashBytes ?? DEFAULT_MAX_HASH_BYTES)), resolve(dir)], { maxBuffer: 1 << 30, encoding: 'latin1' });
  return parseLsx(out.split('\n').filter(Boolean));
}

/** compareManifests options for an image against its source directory (hostManifest) */
export const sourceCompare: CompareOptions = { ino: 'groups', statfs: false, order: false, dirSize: false };

/** a hex path for people: printable ASCII as is, other bytes as \xHH */
export function showPath(hexPath: string): string {
  if (hexPath === '') return '/';
  let s = '/';
  for (const b of Buffer.from(hexPath, 'hex')) s += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

export interface CompareOptions {
  /** 'exact' (default): st_ino equals the reader's ino (EROFS: both are the nid); 'groups': only
   * which paths share an inode must agree; 'ignore' */
  ino?: 'exact' | 'groups' | 'ignore';
  /** compare statfs (default true) */
  statfs?: boolean;
  /** compare the order of entries within each directory (default true) */
  order?: boolean;
  /** fields to leave out, e.g. ['size'] for a format that reports directory sizes differently */
  skipFields?: (keyof ManifestEntry)[];
  /**
   * Accept what the kernel's VFS does on top of the image (default true): getxattr of user.* on
   * anything but a regular file or directory is ENODATA; a system.posix_acl_* value that is not a
   * well-formed, non-empty ACL is EINVAL (or ENODATA) because the kernel parses ACLs; a read or
   * readlink (or the inode itself) that fails on both sides is agreement whatever the error. Each acceptance is pushed to
   * `notes` when given.
   */
  vfsPolicy?: boolean;
  notes?: string[];
  /** compare directory sizes (default true; false against a host directory, whose size is its own) */
  dirSize?: boolean;
}

const ENODATA = '!61';
const EINVAL = '!22';

/** posix_acl_xattr_header (version 2) + at least one {tag, perm, id} entry with a known tag */
function wellFormedAcl(hex: string): boolean {
  const b = Buffer.from(hex, 'hex');
  if (b.length < 12 || (b.length - 4) % 8 !== 0 || b.readUInt32LE(0) !== 2) return false;
  for (let o = 4; o < b.length; o += 8) if (![1, 2, 4, 8, 0x10, 0x20].includes(b.readUInt16LE(o))) return false;
  return true;
}

const FIELDS: (keyof ManifestEntry)[] = ['error', 'type', 'mode', 'uid', 'gid', 'size', 'nlink', 'mtime', 'rdev', 'dtype', 'target', 'sha256'];

/** Differences between the kernel's manifest and a reader's, one readable line each; [] when equal. */
export function compareManifests(kernel: Manifest, reader: Manifest, opts: CompareOptions = {}): string[] {
  const diffs: string[] = [];
  const skip = new Set(opts.skipFields ?? []);
  if (opts.statfs ?? true) {
    const k = JSON.stringify(kernel.statfs);
    const r = JSON.stringify(reader.statfs);
    if (k !== r) diffs.push(`statfs: kernel ${k}, reader ${r}`);
  }
  for (const [p, err] of Object.entries(kernel.dirErrors)) diffs.push(`${showPath(p)}: kernel readdir failed ${err}`);
  for (const [p, err] of Object.entries(reader.dirErrors)) diffs.push(`${showPath(p)}: reader readdir failed ${err}`);
  const kmap = new Map(kernel.entries.map((e) => [e.path, e]));
  const rmap = new Map(reader.entries.map((e) => [e.path, e]));
  for (const e of kernel.entries) if (!rmap.has(e.path)) diffs.push(`${showPath(e.path)}: only the kernel sees it (${e.type})`);
  for (const e of reader.entries) if (!kmap.has(e.path)) diffs.push(`${showPath(e.path)}: only the reader sees it (${e.type})`);
  const ino = opts.ino ?? 'exact';
  const policy = opts.vfsPolicy ?? true;
  const note = (s: string) => opts.notes?.push(s);
  for (const k of kernel.entries) {
    const r = rmap.get(k.path);
    if (!r) continue;
    const where = showPath(k.path);
    for (const f of FIELDS) {
      if (skip.has(f)) continue;
      const kv = k[f];
      const rv = r[f];
      if (f === 'dtype' && (kv === '?' || rv === '?')) continue;
      if (f === 'size' && opts.dirSize === false && k.type === 'dir') continue;
      if (f === 'mode' && typeof kv === 'number' && typeof rv === 'number') {
        if (kv !== rv) diffs.push(`${where}: mode kernel 0${kv.toString(8)}, reader 0${rv.toString(8)}`);
        continue;
      }
      if (kv === rv) continue;
      if (policy && f === 'error' && typeof kv === 'string' && typeof rv === 'string') {
        note(`${where}: the inode fails on both sides (kernel ${kv}, reader ${rv})`);
        break; // nothing else of it to compare
      }
      if (policy && (f === 'sha256' || f === 'target') && typeof kv === 'string' && typeof rv === 'string' && kv.startsWith('!') && rv.startsWith('!')) {
        note(`${where}: ${f} fails on both sides (kernel ${kv}, reader ${rv})`);
        continue;
      }
      diffs.push(`${where}: ${f} kernel ${JSON.stringify(kv)}, reader ${JSON.stringify(rv)}`);
    }
    if (ino === 'exact' && !skip.has('ino') && k.ino !== r.ino) diffs.push(`${where}: ino kernel ${k.ino}, reader ${r.ino}`);
    if (k.xattrs !== null && !skip.has('xattrs')) {
      const kx = k.xattrs;
      const rx = r.xattrs ?? {};
      for (const n of new Set([...Object.keys(kx), ...Object.keys(rx)])) {
        const name = n.startsWith('!') ? n : Buffer.from(n, 'hex').toString('latin1');
        if (!(n in rx)) diffs.push(`${where}: xattr ${name} only the kernel lists (${shorten(kx[n]!)})`);
        else if (!(n in kx)) diffs.push(`${where}: xattr ${name} only the reader lists (${shorten(rx[n]!)})`);
        else if (kx[n] !== rx[n]) {
          const kv = kx[n]!;
          const rv = rx[n]!;
          if (policy && kv === ENODATA && name.startsWith('user.') && k.type !== 'reg' && k.type !== 'dir') {
            note(`${where}: xattr ${name} on a ${k.type}: the kernel lists it but refuses to read user.* there`);
            continue;
          }
          if (policy && (kv === EINVAL || kv === ENODATA) && /^system\.posix_acl_(access|default)$/.test(name) && !wellFormedAcl(rv)) {
            note(`${where}: xattr ${name}: the kernel refuses the malformed ACL ${shorten(rv)} (${kv})`);
            continue;
          }
          if (policy && kv.startsWith('!') && rv.startsWith('!')) {
            note(`${where}: xattr ${name} fails on both sides (kernel ${kv}, reader ${rv})`);
            continue;
          }
          diffs.push(`${where}: xattr ${name} kernel ${shorten(kv)}, reader ${shorten(rv)}`);
        }
      }
    }
  }
  if (ino === 'groups') {
    const groups = (m: Manifest) => {
      const by = new Map<number, string[]>();
      for (const e of m.entries) if (e.type !== 'dir') by.set(e.ino, [...(by.get(e.ino) ?? []), e.path]);
      return new Set([...by.values()].filter((g) => g.length > 1).map((g) => g.sort().map(showPath).join(' = ')));
    };
    const kg = groups(kernel);
    const rg = groups(reader);
    for (const g of kg) if (!rg.has(g)) diffs.push(`hardlink group only the kernel sees: ${g}`);
    for (const g of rg) if (!kg.has(g)) diffs.push(`hardlink group only the reader sees: ${g}`);
  }
  if ((opts.order ?? true) && diffs.length === 0) {
    const korder = kernel.entries.map((e) => e.path);
    const rorder = reader.entries.map((e) => e.path);
    const i = korder.findIndex((p, j) => p !== rorder[j]);
    if (i >= 0) diffs.push(`entry order: #${i} is ${showPath(korder[i]!)} for the kernel, ${showPath(rorder[i] ?? '')} for the reader`);
  }
  return diffs;
}

function shorten(hex: string): string {
  return hex.length > 80 ? `${hex.slice(0, 72)}…(${hex.length / 2} bytes)` : hex;
}

// ---------------------------------------------------------------------------------------------
// booting

export interface KernelJob {
  image: string;
  /** extra devices, passed as `-o device=` in order (EROFS extra devices, RAFS v6 blobs) */
  devices?: string[];
  /** extra mount options, e.g. "noacl" */
  mountOpts?: string;
}

export interface BootOptions {
  /** kill QEMU after this many seconds (default 120 + 60 per job; LAYERSCOPE_KERNEL_TIMEOUT overrides) */
  timeoutSec?: number;
  /** see DEFAULT_MAX_HASH_BYTES; pass the same to readerManifest */
  maxHashBytes?: number;
}

export class KernelOracleError extends Error {}

const qemuPath = (p: string) => resolve(p).replace(/,/g, ',,');

/** one job's outcome: the manifest, or why the kernel refused to mount the image */
export type KernelResult = KernelManifest | { mountError: string; kernelVersion: string };

/**
 * Boot once per MAX_DISKS_PER_BOOT disks and return one result per job, in order. A refused mount
 * is a result (with the kernel's messages); a VM that does not finish is an error.
 */
export async function kernelResults(jobs: KernelJob[], opts: BootOptions = {}): Promise<KernelResult[]> {
  const out: KernelResult[] = [];
  let batch: KernelJob[] = [];
  let disks = new Set<string>();
  const flush = async () => {
    if (batch.length) out.push(...(await bootOnce(batch, opts)));
    batch = [];
    disks = new Set();
  };
  for (const j of jobs) {
    const need = [j.image, ...(j.devices ?? [])].map((p) => resolve(p));
    if (need.length > MAX_DISKS_PER_BOOT) throw new KernelOracleError(`a job with ${need.length} disks is more than ${MAX_DISKS_PER_BOOT}`);
    if (new Set([...disks, ...need]).size > MAX_DISKS_PER_BOOT) await flush();
    batch.push(j);
    for (const p of need) disks.add(p);
  }
  await flush();
  return out;
}

/** Like kernelResults, but a refused mount rejects. */
export async function kernelManifests(jobs: KernelJob[], opts: BootOptions = {}): Promise<KernelManifest[]> {
  const res = await kernelResults(jobs, opts);
  return res.map((r, i) => {
    if ('mountError' in r) throw new KernelOracleError(`kernel refused to mount ${jobs[i]!.image}: ${r.mountError}`);
    return r;
  });
}

export async function kernelManifest(image: string, devices: string[] = [], opts: { mountOpts?: string } & BootOptions = {}): Promise<KernelManifest> {
  const [m] = await kernelManifests([{ image, devices, ...(opts.mountOpts ? { mountOpts: opts.mountOpts } : {}) }], opts);
  return m!;
}

async function bootOnce(jobs: KernelJob[], opts: BootOptions): Promise<KernelResult[]> {
  const ir = buildInitramfs();
  const disks: string[] = [];
  const diskOf = (p: string) => {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new KernelOracleError(`no such image or device: ${abs}`);
    let i = disks.indexOf(abs);
    if (i < 0) i = disks.push(abs) - 1;
    return i;
  };
  const plan = jobs.map((j) => {
    const d = diskOf(j.image);
    const devs = (j.devices ?? []).map((p) => `device=/dev/ls${diskOf(p)}`);
    const mo = ['ro', ...devs, ...(j.mountOpts ? [j.mountOpts] : [])].join(',');
    if (!/^[\w=,/.:+-]*$/.test(mo) || mo.includes(';')) throw new KernelOracleError(`mount options must be plain (letters, digits, = , / . : + -): ${mo}`);
    return `${d}:${mo}`;
  });
  const append = ['console=ttyS0', 'panic=-1', 'loglevel=4', `lsdisks=${disks.length + 1}`, `lsmaxhash=${Math.floor(opts.maxHashBytes ?? DEFAULT_MAX_HASH_BYTES)}`, `lsplan=${plan.join(';')}`].join(' ');
  if (append.length > 2000) throw new KernelOracleError('kernel command line too long: boot fewer jobs at once');
  const work = tempDir('ls-kernel-');
  const consoleLog = join(work, 'console.log');
  const outDisk = join(work, 'out.img');
  closeSync(openSync(outDisk, 'w'));
  truncateSync(outDisk, OUT_DISK_BYTES);
  const args = [
    '-accel', 'tcg', '-nographic', '-nodefaults', '-no-reboot', '-m', '512M', '-monitor', 'none',
    '-kernel', ir.kernel, '-initrd', ir.path, '-append', append,
    '-serial', `file:${consoleLog}`,
    '-drive', `file=${qemuPath(outDisk)},format=raw,if=none,id=out`, '-device', 'virtio-blk-pci,drive=out,serial=lsout',
  ];
  disks.forEach((p, i) => {
    args.push('-drive', `file=${qemuPath(p)},format=raw,if=none,id=d${i},readonly=on`);
    args.push('-device', `virtio-blk-pci,drive=d${i},serial=ls${i}`);
  });
  const timeoutSec = Number(process.env.LAYERSCOPE_KERNEL_TIMEOUT) || opts.timeoutSec || 120 + 60 * jobs.length;
  const started = Date.now();
  try {
    const { code, timedOut, stderr } = await new Promise<{ code: number | null; timedOut: boolean; stderr: string }>((res, rej) => {
      // coreutils timeout kills QEMU even if this process dies first (e.g. the test runner's timeout)
      const wrap = onPath('timeout');
      // its own process group (timeout makes one anyway), so one kill ends timeout and QEMU together
      const q = wrap
        ? spawn(wrap, ['-s', 'KILL', String(timeoutSec + 5), QEMU, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
        : spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      const killAll = () => {
        try {
          if (q.pid) process.kill(-q.pid, 'SIGKILL');
        } catch {
          q.kill('SIGKILL');
        }
      };
      const onExit = killAll;
      process.once('exit', onExit);
      let stderr = '';
      let timedOut = false;
      q.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
      const timer = setTimeout(() => {
        timedOut = true;
        killAll();
      }, timeoutSec * 1000);
      q.on('error', (e) => {
        clearTimeout(timer);
        process.off('exit', onExit);
        rej(e);
      });
      q.on('exit', (c) => {
        clearTimeout(timer);
        process.off('exit', onExit);
        res({ code: c, timedOut, stderr });
      });
    });
    const text = readUntilNul(outDisk);
    const consoleText = existsSync(consoleLog) ? readFileSync(consoleLog, 'latin1') : '';
    const tail = () =>
      `\n--- console (last 3000 chars) ---\n${consoleText.slice(-3000)}\n--- output disk (last 1000 chars) ---\n${text.slice(-1000)}${stderr ? `\n--- qemu stderr ---\n${stderr}` : ''}`;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (timedOut) throw new KernelOracleError(`kernel oracle: QEMU killed after ${timeoutSec} s (images: ${jobs.map((j) => j.image).join(', ')})${tail()}`);
    // early messages (BOOT, FATAL before the disks exist) are on the console, the rest on the disk
    const results = parseRun(`${consoleText}\n${text}`, jobs.length);
    if ('error' in results) throw new KernelOracleError(`kernel oracle: ${results.error} (QEMU exit ${code} after ${secs} s)${tail()}`);
    return results.jobs.map((m) => ('mountError' in m ? { ...m, kernelVersion: ir.kernelVersion } : { ...m, kernelVersion: ir.kernelVersion, helper: ir.helper }));
  } finally {
    if (!process.env.LAYERSCOPE_KERNEL_KEEP) rmSync(work, { recursive: true, force: true });
  }
}

/** the output disk's text: everything before the first NUL (the rest of the sparse file is zeros) */
function readUntilNul(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const parts: Buffer[] = [];
    const buf = Buffer.alloc(1 << 20);
    for (let pos = 0; pos < OUT_DISK_BYTES; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      const nul = buf.subarray(0, n).indexOf(0);
      parts.push(Buffer.from(buf.subarray(0, nul < 0 ? n : nul)));
      if (nul >= 0) break;
      pos += n;
    }
    return Buffer.concat(parts).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** Split the guest's output (console + output disk) into jobs; markers make junk and lost lines detectable. */
export function parseRun(text: string, njobs: number): { jobs: (Manifest | { mountError: string })[] } | { error: string } {
  // a console line may carry terminal junk before a marker: start each line at its marker
  const lines = text
    .split(/\r?\n|\r/)
    .map((l) => l.slice(Math.max(0, l.indexOf('@@LS-'))))
    .filter((l) => l.startsWith('@@LS-'));
  const jobs: (Manifest | { mountError: string })[] = [];
  let cur: { n: number; lines: string[]; fail?: string; dmesg: string[] } | null = null;
  let done = false;
  for (const line of lines) {
    const [tag, ...rest] = line.slice(5).split(' ');
    const arg = rest.join(' ');
    if (tag === 'FATAL') return { error: `init failed: ${arg}` };
    if (tag === 'BEGIN') cur = { n: Number(rest[0]), lines: [], dmesg: [] };
    else if (tag === 'L' && cur) cur.lines.push(arg);
    else if (tag === 'MOUNTFAIL' && cur) cur.fail = arg;
    else if (tag === 'DMESG' && cur) cur.dmesg.push(arg);
    else if (tag === 'END' && cur) {
      if (Number(rest[0]) !== cur.n || cur.n !== jobs.length) return { error: `job markers out of order at END ${rest[0]}` };
      if (cur.fail !== undefined) {
        jobs.push({ mountError: `${cur.fail}${cur.dmesg.length ? '\n' + cur.dmesg.join('\n') : ''}` });
        cur = null;
        continue;
      }
      if (rest[1] !== '0') return { error: `job ${cur.n}: the walk exited with ${rest[1]}` };
      try {
        jobs.push(parseLsx(cur.lines));
      } catch (e) {
        return { error: `job ${cur.n}: ${(e as Error).message}` };
      }
      cur = null;
    } else if (tag === 'DONE') done = true;
  }
  if (!lines.some((l) => l === '@@LS-BOOT')) return { error: 'init never started (no @@LS-BOOT)' };
  if (jobs.length !== njobs) return { error: `${jobs.length} of ${njobs} jobs reported${cur ? ` (job ${cur.n} cut off after ${cur.lines.length} lines)` : ''}` };
  if (!done) return { error: 'no @@LS-DONE' };
  return { jobs };
}

// ---------------------------------------------------------------------------------------------
// one-line checks for writers and readers

/**
 * Boot the kernel on `image` (with `devices` as EROFS extra devices / RAFS v6 blobs), walk the
 * mount, and assert that `readerFs` shows exactly the same tree. Composefs images mount as plain
 * EROFS here: pass a reader that shows the raw EROFS view, or use opts.skipFields.
 */
export async function assertKernelMatches(image: string, devices: string[], readerFs: ReadOnlyFs, opts: CompareOptions & BootOptions & { mountOpts?: string } = {}): Promise<KernelManifest> {
  const k = await kernelManifest(image, devices, opts);
  const r = await readerManifest(readerFs);
  assertManifestsMatch(k, r, opts, image);
  return k;
}

/**
 * Boot the kernel on `image` and assert that it shows the tree of directory `srcDir` (the writer's
 * input): every entry, type, mode, owner, size, mtime, rdev, link target, content and xattr, and the
 * hardlink groups. For builders that keep everything (not compact inodes: pass skipFields ['mtime']).
 */
export async function assertKernelMatchesTree(image: string, devices: string[], srcDir: string, opts: CompareOptions & BootOptions & { mountOpts?: string } = {}): Promise<KernelManifest> {
  const k = await kernelManifest(image, devices, opts);
  const src = hostManifest(srcDir, opts);
  if (!src) throw new KernelOracleError('hostManifest needs the lsx helper (gcc and libc6-dev)');
  assertManifestsMatch(k, src, { ...sourceCompare, ...opts }, `${image} against ${srcDir}`);
  return k;
}

export function assertManifestsMatch(kernel: Manifest, reader: Manifest, opts: CompareOptions = {}, label = 'image'): void {
  if (kernel.entries.length === 0) assert.fail(`${label}: the kernel saw no entries`);
  const diffs = compareManifests(kernel, reader, opts);
  if (diffs.length) assert.fail(`${label}: kernel and reader differ in ${diffs.length} places:\n  ${diffs.slice(0, 60).join('\n  ')}${diffs.length > 60 ? `\n  … ${diffs.length - 60} more` : ''}`);
}
