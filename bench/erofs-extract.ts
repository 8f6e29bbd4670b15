// layerscope extract vs fsck.erofs --extract on the same large image, same run, into tmpfs
// (/dev/shm), into a directory on disk (/var/tmp), and into a new ext4 on the disk made for each
// run: the disk figures are the ones users see; the new ext4 gives every tool the same filesystem.
//
// Uncompressed and LZ4HC images by Debian's mkfs.erofs 1.5, checked against Debian's fsck.erofs.
// LZMA, DEFLATE and zstd images by the mkfs.erofs MKFS_EROFS names (the images the extract-kernel
// bench makes, default options), checked against the fsck.erofs FSCK_EROFS names: Debian's 1.5
// reads neither LZMA nor DEFLATE nor zstd, so those rows need an fsck.erofs 1.6 or later built
// outside this repository, and say so when skipped. EXTRACT_ROWS=lzma,zstd runs only the rows
// whose label holds one of those words; BENCH_RUNS sets the runs per row (default 3, medians).
// EXTRACT_PLACES=tmpfs,disk,ext4 (the default) picks where the trees go (see places).
// EXTRACT_TREE=/usr/share makes the images from that directory instead of the generated 20k-file tree
// (the issue's disk figure was taken on /usr/share); its images are named after the directory.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { newerMkfs } from './erofs-extract-kernel.ts';
import { BENCH_OUT, CLI, SCRATCH, load, makeBigTree, median, sh, shCpu } from './util.ts';

export interface Row {
  name: string;
  layerscopeMs: number | null;
  referenceMs: number | null;
  ratio: number | null;
  /** CPU time (user + sys, all threads) of layerscope and of fsck.erofs */
  layerscopeCpuMs?: number;
  referenceCpuMs?: number;
  /** the kernel's part of that CPU time (on disk: mostly the filesystem's allocators) */
  layerscopeSysMs?: number;
  referenceSysMs?: number;
  note: string;
}

const UUID = '11111111-2222-3333-4444-555555555555';

/** FSCK_EROFS when it names an fsck.erofs that decodes `algs`: its version, or why it cannot be used */
function newerFsck(algs: string[]): { path: string; version: string } | { skip: string } {
  const path = process.env.FSCK_EROFS;
  const want = `set FSCK_EROFS=/path/to/fsck.erofs (fsck.erofs ≥1.6 with ${algs.join(', ')}; Debian's 1.5 reads none of them)`;
  if (!path) return { skip: `skipped: ${want}` };
  if (!existsSync(path)) return { skip: `skipped: FSCK_EROFS=${path} does not exist; ${want}` };
  const v = sh(path, ['--version']);
  const text = `${v.stdout}${v.stderr}`;
  const line = text.split('\n').find((l) => l.includes('available decompressors')) ?? '';
  const missing = algs.filter((a) => !new RegExp(`\\b${a}\\b`).test(line));
  if (missing.length) return { skip: `skipped: ${path} lists no ${missing.join(', ')} decompressor (${line.trim() || 'no "available decompressors" line'}); ${want}` };
  const first = text.trim().split('\n')[0]!;
  return { path, version: /\d+\.\d+(\.\d+)?/.exec(first)?.[0] ?? first };
}

/**
 * Where the trees are extracted, one tree per tool (index k; the last one is fsck.erofs's).
 * `dest(k)` empties k's destination (or makes a fresh filesystem), syncs, and returns it.
 */
interface Place {
  where: string;
  onDisk: boolean;
  about: string;
  dest(k: number): string;
  path(k: number): string;
  /** diff -r of our trees against the reference's, which are then removed */
  compare?: (ours: string[], ref: string, fsckName: string) => void;
  cleanup(): void;
}

function dirPlace(where: string, base: string, onDisk: boolean, about: string): Place {
  const path = (k: number): string => join(base, `ls-bench-x-${k}`);
  const made = new Set<number>();
  return {
    where, onDisk, about, path,
    dest(k) {
      rmSync(path(k), { recursive: true, force: true });
      if (onDisk) sh('sync', []);
      made.add(k);
      return path(k);
    },
    compare(ours, ref, fsckName) {
      for (const a of ours) {
        const same = sh('diff', ['-r', '-q', '--no-dereference', a, ref]);
        if (same.status !== 0) throw new Error(`layerscope and ${fsckName} extracted different trees:\n${same.stdout.slice(0, 2000)}`);
      }
    },
    cleanup() {
      for (const k of made) rmSync(path(k), { recursive: true, force: true });
    },
  };
}

/**
 * A new ext4 filesystem (mkfs.ext4 defaults: journal, flex_bg, delayed allocation) on a loop device
 * over a file in /var/tmp, made again before every run: each tool writes to the same empty
 * filesystem, whatever ran before. With --direct-io the loop device writes to the disk without a
 * second page cache. /var/tmp itself is not like that here: its ext4 has no journal, and without one
 * a new inode is not given a free inode deleted in the last 5 s (5 min while its inode table block
 * is dirty), so after the previous run's 57k-entry tree is deleted every new inode scans past the
 * deleted ones (recently_deleted in fs/ext4/ialloc.c). fsck.erofs 1.5 into /var/tmp right after
 * such deletions: 6.4 s of system time, 2.1 s into a directory in another block group (load 3).
 */
function freshExt4Place(imageBytes: number): Place | { where: string; onDisk: boolean; skip: string } {
  const where = 'fresh ext4 (loop)';
  if (process.getuid?.() !== 0) return { where, onDisk: true, skip: 'skipped: needs root (losetup, mkfs.ext4, mount)' };
  if (sh('sh', ['-c', 'command -v mkfs.ext4 && command -v losetup']).status !== 0) return { where, onDisk: true, skip: 'skipped: needs mkfs.ext4 and losetup' };
  const file = '/var/tmp/ls-bench-ext4.img';
  const mnt = '/var/tmp/ls-bench-ext4-mnt';
  const bytes = Math.max(2 << 30, 3 * imageBytes);
  let dev = '';
  let mounted = false;
  const umount = (): void => {
    if (mounted) sh('umount', [mnt]);
    mounted = false;
  };
  const run = (cmd: string, args: string[]): string => {
    const r = sh(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  return {
    where, onDisk: true, path: () => join(mnt, 'x'),
    about: `each run into a new ext4 (mkfs.ext4 defaults, ${(bytes / 2 ** 30).toFixed(1)} GiB) on a loop device (direct I/O) over ${file}`,
    dest() {
      if (!dev) {
        rmSync(file, { force: true });
        run('fallocate', ['-l', String(bytes), file]);
        const direct = sh('losetup', ['-f', '--show', '--direct-io=on', file]);
        dev = direct.status === 0 ? direct.stdout.trim() : run('losetup', ['-f', '--show', file]);
        mkdirSync(mnt, { recursive: true });
      }
      umount();
      // nodiscard: a discard would punch the file's blocks out, and the run would then allocate them
      // again in /var/tmp's ext4 (94% full here) while it is timed
      run('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', dev]);
      run('mount', [dev, mnt]);
      mounted = true;
      sh('sync', []);
      return join(mnt, 'x');
    },
    cleanup() {
      umount();
      if (dev) sh('losetup', ['-d', dev]);
      dev = '';
      rmSync(file, { force: true });
      rmSync(mnt, { recursive: true, force: true });
    },
  };
}

/** tmpfs, a directory of this machine's disk, a new ext4 (EXTRACT_PLACES=tmpfs,disk,ext4 picks some) */
function places(imageBytes: number): (Place | { where: string; onDisk: boolean; skip: string })[] {
  const want = (process.env.EXTRACT_PLACES ?? 'tmpfs,disk,ext4').split(',').map((s) => s.trim());
  const all: [string, () => Place | { where: string; onDisk: boolean; skip: string }][] = [
    ['tmpfs', () => dirPlace('tmpfs', SCRATCH, false, `into ${SCRATCH}`)],
    ['disk', () => dirPlace('disk', '/var/tmp', true, 'into /var/tmp, each run after its previous tree is deleted and a sync (this ext4 has no journal: see freshExt4Place), and its own sync timed after it')],
    ['ext4', () => freshExt4Place(imageBytes)],
  ];
  return all.filter(([name]) => want.includes(name)).map(([, make]) => make());
}

interface Spec { label: string; img: string; make: () => { status: number; stderr: string }; fsck: string; fsckName: string }

export async function runErofsExtractBench(runs = Number(process.env.BENCH_RUNS ?? 3)): Promise<Row[]> {
  const given = process.env.EXTRACT_TREE;
  const tree = given ?? makeBigTree(join(BENCH_OUT, 'tree-20k'), 20_000, 520 << 20);
  // images of a given tree are kept apart from the generated tree's (they are made once and reused)
  const tag = given ? `-${given.replace(/[^0-9A-Za-z]+/g, '_')}` : '';
  const files = given ? `${sh('find', [given]).stdout.split('\n').filter(Boolean).length} entries of ${given}` : '20k files';
  const rows: Row[] = [];
  const specs: Spec[] = [];
  for (const [label, opts] of [['uncompressed', []], ['lz4hc', ['-zlz4hc']]] as const) {
    const img = join(BENCH_OUT, `big-${label}${tag}.erofs`);
    specs.push({ label, img, make: () => sh('mkfs.erofs', ['-T0', '-U', UUID, ...opts, img, tree]), fsck: 'fsck.erofs', fsckName: 'fsck.erofs' });
  }
  const algs = ['lzma', 'deflate', 'zstd'];
  const mk = newerMkfs();
  const fk = newerFsck(algs);
  if ('skip' in mk || 'skip' in fk) {
    const why = [mk, fk].flatMap((x) => ('skip' in x ? [x.skip] : [])).join('; ');
    for (const alg of algs) rows.push({ name: `extract ${alg} (mkfs.erofs ≥1.6) vs fsck.erofs ≥1.6`, layerscopeMs: null, referenceMs: null, ratio: null, note: why });
  } else {
    // the image the extract-kernel bench makes (same name, same options)
    const ver = mk.version.replace(/[^0-9A-Za-z.]+/g, '_');
    for (const alg of algs) {
      const img = join(BENCH_OUT, `big-${alg}-mkfs-${ver}${tag}.erofs`);
      specs.push({ label: `${alg} (mkfs.erofs ${mk.version})`, img, make: () => sh(mk.path, ['--quiet', '-T0', '-U', UUID, `-z${alg}`, img, tree]), fsck: fk.path, fsckName: `fsck.erofs ${fk.version}` });
    }
  }
  const only = process.env.EXTRACT_ROWS?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const { label, img, make, fsck, fsckName } of specs) {
    if (only && !only.some((w) => label.includes(w))) continue;
    if (!existsSync(img)) {
      const r = make();
      if (r.status !== 0) throw new Error(`building ${img} failed: ${r.stderr}`);
    }
    for (const place of places(statSync(img).size)) {
      const { where, onDisk } = place;
      if ('skip' in place) {
        rows.push({ name: `extract ${label} → ${where}`, layerscopeMs: null, referenceMs: null, ratio: null, note: place.skip });
        continue;
      }
      // the default (one thread per core, up to 4) and one thread, so both figures are in each run
      const variants = [['', [] as string[]], [' --threads 1', ['--threads', '1']]] as const;
      const tools = [...variants.map(([, extra], k) => ({ k, extra })), { k: variants.length, extra: null }];
      const wall: number[][] = tools.map(() => []);
      const cpu: number[][] = tools.map(() => []);
      const sys: number[][] = tools.map(() => []);
      const syncs: number[][] = tools.map(() => []);
      const loads: string[] = [];
      try {
        for (let i = 0; i < runs; i++) {
          // a different tool goes first in each run: on /var/tmp each one pays for the trees deleted
          // before it (see places), and the order would otherwise always favour the same one
          for (let j = 0; j < tools.length; j++) {
            const { k, extra } = tools[(i + j) % tools.length]!;
            // its previous tree, deleted (or on a fresh filesystem) and synced
            const dest = place.dest(k);
            const t0 = performance.now();
            const r = extra ? shCpu(process.execPath, [CLI, 'extract', '--no-xattrs', ...extra, img, dest]) : shCpu(fsck, [`--extract=${dest}`, img]);
            if (r.status !== 0) throw new Error(`${extra ? 'layerscope extract' : fsckName} failed: ${r.stderr}${r.stdout}`);
            const ran = performance.now() - t0;
            // on disk, the dirty pages one run leaves are written back during the next one (a quiet run:
            // fsck.erofs took 2.0 s after ours and 13.0 s right after a sync of ours' 555 MB): so each run
            // starts after a sync and its time includes the sync of what it wrote
            const t1 = performance.now();
            if (onDisk) sh('sync', []);
            const synced = performance.now() - t1;
            wall[k]!.push(ran + synced);
            syncs[k]!.push(synced);
            cpu[k]!.push(r.cpuMs);
            sys[k]!.push(r.sysMs);
          }
          loads.push(load().replace('load ', ''));
        }
        // the trees must be the same, or the times mean nothing
        place.compare?.(variants.map((_, k) => place.path(k)), place.path(variants.length), fsckName);
      } finally {
        place.cleanup();
      }
      const f = variants.length;
      const ms = (xs: number[]): number => Math.round(median(xs));
      for (const [k, [label2]] of variants.entries()) {
        rows.push({
          name: `extract${label2} ${label} → ${where} (${(statSync(img).size / 1e6).toFixed(0)} MB image, ${files})`,
          layerscopeMs: ms(wall[k]!), referenceMs: ms(wall[f]!), ratio: +(median(wall[f]!) / median(wall[k]!)).toFixed(3),
          layerscopeCpuMs: ms(cpu[k]!), referenceCpuMs: ms(cpu[f]!),
          layerscopeSysMs: ms(sys[k]!), referenceSysMs: ms(sys[f]!),
          note: `ratio = ${fsckName} time / layerscope time (>1: we are faster); ${place.about}${onDisk ? `; of which sync ${ms(syncs[k]!)} vs ${ms(syncs[f]!)} ms` : ''}; medians of ${runs}, each run in a rotated order; ${place.compare ? 'trees compared with diff -r' : 'trees compared on the other rows'}; 1-min load ${loads.join('/')}`,
        });
      }
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await runErofsExtractBench());
}
