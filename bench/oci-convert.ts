/**
 * OCI image → Nydus in Node (issue 17): a 10-layer gzip image of ~500 MB of real files (the first
 * regular files of /usr/lib, in path order, cut into 10 layers of ~50 MB; layer tars by GNU tar,
 * `gzip -1`), converted in this process as `layerscope convert --to nydus` does (loadOci: every
 * blob and diff_id checked, gzip inflated; then one RAFS v6 blob per layer and the merged
 * bootstrap, written to a layout folder on tmpfs), zstd (nydusify's default) and none. Wall
 * seconds and this process's CPU seconds (the machine is shared: CPU is what the code costs).
 * Reference in the same run: `skopeo copy --dest-compress-format zstd` of the same image (inflate
 * every layer and compress it with zstd: the bulk of the same work, by Go with all cores; wall and
 * CPU from /usr/bin/time). nydusify / nydus-image are not installed here.
 * Run alone: `node --import tsx bench/oci-convert.ts [--mb=500] [--layers=10]`; `npm run bench -- oci-convert`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/cli/native.ts';
import { folderFiles } from '../src/cli/oci.ts';
import { folderLayout } from '../src/cli/oci-layout-out.ts';
import { tempFileSpill } from '../src/lib/fs/sources/node.ts';
import { loadOci } from '../src/lib/oci/index.ts';
import { convertToNydus } from '../src/lib/oci/nydus.ts';
import { BENCH_OUT, SCRATCH, fresh } from './util.ts';

export interface OciConvertRow {
  tool: string;
  layers: number;
  /** uncompressed layer tars, MB */
  tarMB: number;
  /** the source image's gzip layers, MB */
  gzipMB: number;
  seconds: number;
  cpuSeconds: number;
  /** uncompressed MB per wall second */
  MBps: number;
  outMB: number;
}

const MB = 1 << 20;
const sha256File = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Regular files of `root` in path order until `budget` bytes (unreadable ones skipped). */
function pickFiles(root: string, budget: number): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  let left = budget;
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (left <= 0) return;
      const p = join(dir, n);
      const st = (() => { try { return statSync(p, { throwIfNoEntry: false }); } catch { return undefined; } })();
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size > 0 && st.size <= left) {
        try {
          readFileSync(p, { flag: 'r' }).length;
        } catch {
          continue;
        }
        out.push({ path: p, size: st.size });
        left -= st.size;
      }
    }
  };
  walk(root);
  return out;
}

/** The bench image (cached under bench/out by its parameters). */
function makeImage(mb: number, layers: number): { dir: string; tarBytes: number; gzipBytes: number } {
  const dir = join(BENCH_OUT, `oci-convert-${mb}mb-${layers}l`);
  const stamp = join(dir, 'bench.json');
  if (existsSync(stamp)) return JSON.parse(readFileSync(stamp, 'utf8'));
  fresh(dir);
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const files = pickFiles('/usr/lib', mb * MB);
  const per = Math.ceil(files.reduce((s, f) => s + f.size, 0) / layers);
  const groups: string[][] = [[]];
  let acc = 0;
  for (const f of files) {
    if (acc >= per && groups.length < layers) {
      groups.push([]);
      acc = 0;
    }
    groups[groups.length - 1]!.push(f.path.slice(1));
    acc += f.size;
  }
  const diffIds: string[] = [];
  const descs: object[] = [];
  let tarBytes = 0;
  let gzipBytes = 0;
  for (const [i, g] of groups.entries()) {
    const list = join(dir, `list-${i}`);
    const tar = join(SCRATCH, `oci-convert-layer-${i}.tar`);
    writeFileSync(list, g.join('\n') + '\n');
    const t = spawnSync('tar', ['-C', '/', '--no-recursion', '-cf', tar, '-T', list], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
    diffIds.push(`sha256:${sha256File(tar)}`);
    tarBytes += statSync(tar).size;
    const gz = join(dir, `layer-${i}.gz`);
    const z = spawnSync('sh', ['-c', `gzip -1 -c "${tar}" > "${gz}"`]);
    if (z.status !== 0) throw new Error('gzip failed');
    rmSync(tar);
    rmSync(list);
    const hex = sha256File(gz);
    const size = statSync(gz).size;
    gzipBytes += size;
    spawnSync('mv', [gz, join(dir, 'blobs/sha256', hex)]);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size });
  }
  const put = (o: object): { digest: string; size: number } => {
    const b = Buffer.from(JSON.stringify(o));
    const hex = createHash('sha256').update(b).digest('hex');
    writeFileSync(join(dir, 'blobs/sha256', hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const config = put({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: diffIds.map((_, i) => ({ created_by: `bench layer ${i}` })) });
  const manifest = put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  const info = { dir, tarBytes, gzipBytes };
  writeFileSync(stamp, JSON.stringify(info));
  return info;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(join(dir, 'blobs/sha256'))) n += statSync(join(dir, 'blobs/sha256', f)).size;
  return n;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

export async function runOciConvertBench(opts: { mb?: number; layers?: number } = {}): Promise<OciConvertRow[]> {
  const layers = opts.layers ?? 10;
  const img = makeImage(opts.mb ?? 500, layers);
  const base = { layers, tarMB: round(img.tarBytes / MB, 1), gzipMB: round(img.gzipBytes / MB, 1) };
  const rows: OciConvertRow[] = [];
  for (const compressor of ['zstd', 'none'] as const) {
    const out = join(SCRATCH, `oci-convert-nydus-${compressor}`);
    rmSync(out, { recursive: true, force: true });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const loaded = await loadOci(folderFiles(img.dir), { spill: tempFileSpill() });
    await convertToNydus(loaded, await folderLayout(out), { compressor });
    const cpu = process.cpuUsage(c0);
    const s = (performance.now() - t0) / 1000;
    rows.push({ tool: `layerscope nydus ${compressor}`, ...base, seconds: round(s), cpuSeconds: round((cpu.user + cpu.system) / 1e6), MBps: round(img.tarBytes / MB / s, 1), outMB: round(dirBytes(out) / MB, 1) });
    rmSync(out, { recursive: true, force: true });
  }
  const out = join(SCRATCH, 'oci-convert-skopeo-zstd');
  rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'skopeo', 'copy', '-q', '--dest-compress-format', 'zstd', `oci:${img.dir}:bench`, `oci:${out}:bench`], { encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`skopeo: ${r.stderr}`);
  const [u, sy] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  rows.push({ tool: 'skopeo copy → zstd (reference)', ...base, seconds: round(s), cpuSeconds: round(u! + sy!), MBps: round(img.tarBytes / MB / s, 1), outMB: round(dirBytes(out) / MB, 1) });
  rmSync(out, { recursive: true, force: true });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k: string): number | undefined => {
    const a = process.argv.find((x) => x.startsWith(`--${k}=`));
    return a ? Number(a.slice(k.length + 3)) : undefined;
  };
  console.table(await runOciConvertBench({ ...(arg('mb') ? { mb: arg('mb')! } : {}), ...(arg('layers') ? { layers: arg('layers')! } : {}) }));
}
