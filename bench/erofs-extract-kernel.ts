// layerscope extract of large compressed EROFS images (20k files, 520 MB of content) against
// copying the same tree out of this machine's kernel mount of the image (`cp -a`), same run, into
// tmpfs (/dev/shm) and into a directory on disk (/var/tmp). Goal (issue 14): no slower than the
// kernel copy. The kernel needs root and CONFIG_EROFS_FS_ZIP_{DEFLATE,ZSTD,LZMA}; a row says why it
// is missing where it cannot mount.
//
// Images: DEFLATE and zstd by Layerscope's writer, LZ4HC by Debian's mkfs.erofs 1.5, and, when
// MKFS_EROFS names a newer mkfs.erofs (1.6 or later, built with liblzma: Debian's 1.5 has no -zlzma
// and Layerscope has no LZMA encoder), LZMA, DEFLATE and zstd by that mkfs.erofs with its default
// options (4 KiB pclusters). EXTRACT_KERNEL_ROWS=lzma,zstd runs only the rows whose label holds one
// of those words; BENCH_RUNS sets the runs per row (default 3, medians reported).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_OUT, CLI, load, makeBigTree, median, sh, shCpu } from './util.ts';

export interface KernelCopyRow {
  name: string;
  layerscopeMs: number | null;
  /** CPU time of the layerscope process (all its threads) */
  layerscopeCpuMs: number | null;
  kernelCpMs: number | null;
  /** CPU time of cp plus that of the kernel's worker threads over the copy (see kworkerCpuMs) */
  kernelCpuMs: number | null;
  ratio: number | null;
  /** kernelCpuMs / layerscopeCpuMs (>1: layerscope did less work) */
  cpuRatio: number | null;
  note: string;
}

const DESTS = [['tmpfs', '/dev/shm'], ['disk', '/var/tmp']] as const;
const UUID = '11111111-2222-3333-4444-555555555555';

interface ImageSpec { label: string; file: string; make: () => { status: number; stderr: string } }

/** MKFS_EROFS when it names a mkfs.erofs with -zlzma: its version line, or why it cannot be used */
export function newerMkfs(): { path: string; version: string } | { skip: string } {
  const path = process.env.MKFS_EROFS;
  const want = 'set MKFS_EROFS=/path/to/mkfs.erofs (mkfs.erofs ≥1.6 with lzma)';
  if (!path) return { skip: `skipped: ${want}` };
  if (!existsSync(path)) return { skip: `skipped: MKFS_EROFS=${path} does not exist; ${want}` };
  const v = sh(path, ['--version']);
  const help = sh(path, ['--help']);
  // 1.9 lists its compressors under --version, older ones under --help
  const line = `${v.stdout}${v.stderr}${help.stdout}${help.stderr}`.split('\n').find((l) => l.includes('available compressors')) ?? '';
  if (!/\blzma\b/.test(line)) return { skip: `skipped: ${path} lists no lzma compressor (${line.trim() || 'no "available compressors" line'}); ${want}` };
  const first = `${v.stdout}${v.stderr}`.trim().split('\n')[0]!;
  return { path, version: /\d+\.\d+(\.\d+)?/.exec(first)?.[0] ?? first };
}

/**
 * CPU milliseconds used so far by the kernel's worker threads (kworker/*). The kernel decompresses
 * EROFS pclusters read ahead in its erofs_worker workqueue, not in cp's own time; that workqueue is
 * high-priority (nice -20), so on a shared machine the kernel copy gets its CPU at once while
 * layerscope waits its turn at nice 0. The wall-time ratio then measures the load as much as the
 * code; CPU time, cp's plus the kworkers' (other work they did in the meantime included, so the
 * kernel's figure is if anything too high), compares the work each side did.
 */
function kworkerCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('kworker')) continue;
    // fields after the command: state is field 3, utime and stime fields 14 and 15
    const f = stat.slice(close + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / CLK_TCK;
}
/** USER_HZ: /proc's tick unit (100 on Linux x86 and arm) */
const CLK_TCK = 100;

export async function runErofsExtractKernelBench(runs = Number(process.env.BENCH_RUNS ?? 3)): Promise<KernelCopyRow[]> {
  const tree = makeBigTree(join(BENCH_OUT, 'tree-20k'), 20_000, 520 << 20);
  const fixed = ['-T', '0', '--uuid', UUID];
  const out = (name: string): string => join(BENCH_OUT, name);
  const specs: ImageSpec[] = [
    { label: 'deflate', file: out('big-deflate.erofs'), make: () => sh(process.execPath, [CLI, 'build', '--format', 'erofs', '-z', 'deflate', ...fixed, tree, out('big-deflate.erofs')]) },
    { label: 'zstd', file: out('big-zstd.erofs'), make: () => sh(process.execPath, [CLI, 'build', '--format', 'erofs', '-z', 'zstd', '-C', '65536', ...fixed, tree, out('big-zstd.erofs')]) },
    { label: 'lz4hc (mkfs.erofs 1.5)', file: out('big-lz4hc.erofs'), make: () => sh('mkfs.erofs', ['-T0', '-U', UUID, '-zlz4hc', out('big-lz4hc.erofs'), tree]) },
  ];
  const rows: KernelCopyRow[] = [];
  const mk = newerMkfs();
  if ('skip' in mk) {
    rows.push({ name: 'extract lzma (mkfs.erofs ≥1.6)', layerscopeMs: null, layerscopeCpuMs: null, kernelCpMs: null, kernelCpuMs: null, ratio: null, cpuRatio: null, note: mk.skip });
  } else {
    // the version in the file name: an image made by another mkfs.erofs is made again
    const ver = mk.version.replace(/[^0-9A-Za-z.]+/g, '_');
    for (const alg of ['lzma', 'deflate', 'zstd']) {
      const file = out(`big-${alg}-mkfs-${ver}.erofs`);
      specs.push({ label: `${alg} (mkfs.erofs ${mk.version})`, file, make: () => sh(mk.path, ['--quiet', '-T0', '-U', UUID, `-z${alg}`, file, tree]) });
    }
  }
  const only = process.env.EXTRACT_KERNEL_ROWS?.split(',').map((s) => s.trim()).filter(Boolean);
  const mnt = join(BENCH_OUT, 'kernel-mnt');
  mkdirSync(mnt, { recursive: true });
  for (const spec of specs) {
    if (only && !only.some((w) => spec.label.includes(w))) continue;
    if (!existsSync(spec.file)) {
      const r = spec.make();
      if (r.status !== 0) throw new Error(`building ${spec.file} failed: ${r.stderr}`);
    }
    const img = spec.file;
    const size = `${(statSync(img).size / 1e6).toFixed(0)} MB image`;
    const m = sh('mount', ['-t', 'erofs', '-o', 'ro', img, mnt]);
    if (m.status !== 0) {
      rows.push({ name: `extract ${spec.label}`, layerscopeMs: null, layerscopeCpuMs: null, kernelCpMs: null, kernelCpuMs: null, ratio: null, cpuRatio: null, note: `skipped: the kernel did not mount it: ${m.stderr.trim()}` });
      continue;
    }
    try {
      for (const [where, base] of DESTS) {
        const ours: number[] = [], oursCpu: number[] = [], cp: number[] = [], cpCpu: number[] = [], loads: string[] = [];
        const a = join(base, 'ls-bench-kx-ours'), b = join(base, 'ls-bench-kx-cp');
        for (let i = 0; i < runs; i++) {
          rmSync(a, { recursive: true, force: true });
          const r1 = shCpu(process.execPath, [CLI, 'extract', '--no-xattrs', img, a]);
          if (r1.status !== 0) throw new Error(`layerscope extract failed: ${r1.stderr}${r1.stdout}`);
          ours.push(r1.ms);
          oursCpu.push(r1.cpuMs);
          rmSync(b, { recursive: true, force: true });
          // drop the page cache's copy of the decompressed files, so the kernel decompresses each
          // run; then read the image back in, as it is for layerscope (both start from a cached image)
          sh('sh', ['-c', `sync; echo 3 > /proc/sys/vm/drop_caches; cat '${img}' > /dev/null`]);
          const k0 = kworkerCpuMs();
          const r2 = shCpu('cp', ['-a', `${mnt}/.`, b]);
          if (r2.status !== 0) throw new Error(`cp -a failed: ${r2.stderr}`);
          cp.push(r2.ms);
          cpCpu.push(r2.cpuMs + kworkerCpuMs() - k0);
          loads.push(load().replace('load ', ''));
        }
        // the same tree, or the times mean nothing
        const same = sh('diff', ['-r', '-q', '--no-dereference', a, b]);
        if (same.status !== 0) throw new Error(`layerscope extract and the kernel copy differ (${spec.label}):\n${same.stdout.slice(0, 2000)}`);
        rmSync(a, { recursive: true, force: true });
        rmSync(b, { recursive: true, force: true });
        const l = median(ours), k = median(cp), lc = median(oursCpu), kc = median(cpCpu);
        rows.push({
          name: `extract ${spec.label} → ${where} (${size}, 20k files)`,
          layerscopeMs: Math.round(l), layerscopeCpuMs: Math.round(lc), kernelCpMs: Math.round(k), kernelCpuMs: Math.round(kc), ratio: +(k / l).toFixed(3), cpuRatio: +(kc / lc).toFixed(3),
          note: `ratio = kernel cp -a time / layerscope time (>1: we are faster); cpuRatio the same for CPU time (kernel: cp + kworkers); medians of ${runs}; trees diffed; page cache dropped and the image re-read before each cp; 1-min load ${loads.join('/')}`,
        });
      }
    } finally {
      sh('umount', [mnt]);
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.table(await runErofsExtractKernelBench());
}
