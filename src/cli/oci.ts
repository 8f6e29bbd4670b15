// `layerscope oci ls|config|history|layers|diff`: an OCI image layout (a folder or an
// oci-archive tar) or a `docker save` archive, read and checked by src/lib/oci, printed here.
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { NotFoundError, UnsupportedError } from '../lib/errors.ts';
import { tempFileSpill } from '../lib/fs/sources/node.ts';
import { diffImages } from '../lib/inspect/diff.ts';
import { sniffCompression } from '../lib/oci/types.ts';
import { treeFs } from '../lib/fs/sources/treefs.ts';
import type { ReadOnlyFs } from '../lib/fs/types.ts';
import { configView, imageSummary, fileList, filesFromTar, filesFromTarGz, historyView, layersView, loadOci, mergeLayers, toCsv, type FileRow, type LoadedOci, type OciFiles } from '../lib/oci/index.ts';
import { humanBytes, out, toJson, UsageError } from './format.ts';
import { openFile } from './open.ts';
import { build, type BuildArgs } from './build.ts';
import { composefsRsOutput, convertNydus as convertNydusLayout, mergedTree } from '../lib/app/convert.ts';
import { folderLayout, tarLayout } from './oci-layout-out.ts';
import { COMPOSEFS_RS_ID_NOTE } from '../lib/oci/composefs.ts';
import { writeFileSync } from 'node:fs';
import { convertErofsPerLayer } from './convert-per-layer.ts';

export const OCI_OPTS = {
  platform: { type: 'string' },
  ref: { type: 'string' },
  layer: { type: 'string' },
  layers: { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  sort: { type: 'string' },
  long: { type: 'boolean', short: 'l' },
} as const satisfies ParseArgsConfig['options'];

export const OCI_USAGE = 'oci ls|config|history|layers|diff IMAGE [IMAGE2 | --layers A,B] [--platform OS/ARCH[/VARIANT]] [--ref TAG] [--layer N] [-l] [--sort size|path] [--json|--csv]';

/** A folder holding a layout: its files opened on demand (paths are checked by the lib before they get here). */
export function folderFiles(dir: string): OciFiles {
  return {
    name: basename(dir),
    async get(path) {
      const p = join(dir, path);
      const st = await stat(p).catch(() => null);
      if (!st?.isFile()) return null;
      return openFile(p);
    },
  };
}

/** The files of IMAGE: a directory is a layout; a file is an image archive (plain tar). */
export async function ociFiles(path: string): Promise<OciFiles> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new NotFoundError(path);
  if (st.isDirectory()) return folderFiles(path);
  const src = await openFile(path);
  const head = await src.read(0, Math.min(4, src.size));
  const c = sniffCompression(head);
  // docker save | gzip: unpacked once, the layers into a temp file
  if (c === 'gzip') return filesFromTarGz(src, tempFileSpill());
  if (c !== 'none') throw new UnsupportedError('compressed image archive', `${path} is ${c}-compressed: decompress it first (docker save and oci-archive write a plain tar)`);
  return filesFromTar(src);
}

export async function loadOciPath(path: string, v: Record<string, unknown>, content = true): Promise<LoadedOci> {
  return loadOci(await ociFiles(path), {
    content,
    ...(typeof v.platform === 'string' ? { platform: v.platform } : {}),
    ...(typeof v.ref === 'string' ? { ref: v.ref } : {}),
    defaultPlatform: hostPlatform(),
    spill: tempFileSpill(),
  });
}

/** linux/ARCH of this machine in the OCI spelling (GOARCH), the default of an index of several platforms */
export function hostPlatform(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return `linux/${arch}`;
}

const COLUMNS: (keyof FileRow)[] = ['path', 'type', 'size', 'mode', 'uid', 'gid', 'mtime', 'layer'];

const MARK = { added: '+', modified: '~', removed: '-' } as const;

export async function runOci(pos: string[], v: Record<string, unknown>): Promise<number> {
  const [sub, image, image2] = pos;
  if (!sub) throw new UsageError('missing the oci subcommand (ls, config, history, layers, diff)');
  if (!image) throw new UsageError('missing IMAGE');
  // listing and measuring never read a file: content is hashed as it streams by, and not kept
  const img = await loadOciPath(image, v, sub === 'diff');
  switch (sub) {
    case 'config': {
      const c = configView(img.image);
      if (v.json) return out(toJson(c)), 0;
      out(`platform:    ${c.platform}`);
      out(`created:     ${c.created ?? ''}`);
      if (c.author) out(`author:      ${c.author}`);
      out(`entrypoint:  ${c.entrypoint ? JSON.stringify(c.entrypoint) : ''}`);
      out(`cmd:         ${c.cmd ? JSON.stringify(c.cmd) : ''}`);
      out(`workdir:     ${c.workingDir ?? ''}`);
      out(`user:        ${c.user ?? ''}`);
      for (const e of c.env) out(`env:         ${e}`);
      for (const [k, val] of Object.entries(c.labels)) out(`label:       ${k}=${val}`);
      for (const p of c.exposedPorts) out(`port:        ${p}`);
      for (const p of c.volumes) out(`volume:      ${p}`);
      return 0;
    }
    case 'history': {
      const h = historyView(img.image);
      if (v.json) return out(toJson(h)), 0;
      for (const e of h) out(`${e.layer === null ? '     -' : `#${String(e.layer).padStart(4)}`}  ${(e.created ?? '').padEnd(30)} ${e.emptyLayer ? '(empty) ' : ''}${e.createdBy}`);
      return 0;
    }
    case 'layers': {
      const ls = layersView(img.image, img.layers, img.changes);
      const eff = img.efficiency;
      if (v.json) return out(toJson({ image: imageSummary(img), layers: ls, efficiency: eff })), 0;
      out(`${img.image.kind} ${img.image.name}  ${img.image.platform}  manifest ${img.image.manifestDigest ?? '(none)'}`);
      for (const l of ls) {
        out(`#${String(l.index).padStart(3)} ${l.digest.slice(0, 19)} ${l.compression.padEnd(4)} ${humanBytes(l.size).padStart(9)} → ${humanBytes(l.uncompressedSize).padStart(9)}  +${l.added} ~${l.modified} -${l.removed}  ${l.createdBy}`);
      }
      out(`efficiency: ${(eff.score * 100).toFixed(4)} %  wasted bytes: ${eff.wastedBytes} (${humanBytes(eff.wastedBytes)})  user size: ${eff.userSizeBytes}`);
      for (const x of eff.inefficiencies.slice(0, 20)) out(`  ${String(x.count).padStart(3)} × ${humanBytes(x.cumulativeSize).padStart(9)}  ${x.path}`);
      return 0;
    }
    case 'ls': {
      if (typeof v.layer === 'string') {
        const n = Number(v.layer);
        const ch = img.changes[n];
        if (!Number.isSafeInteger(n) || !ch) throw new UsageError(`--layer ${v.layer}: the image has layers 0 to ${img.changes.length - 1}`);
        if (v.json) return out(toJson(ch)), 0;
        for (const c of ch) out(`${MARK[c.change]} ${c.type.padEnd(7)} ${String(c.size).padStart(10)} ${c.path}`);
        return 0;
      }
      const rows = fileList(img.tree, img.layers);
      if (v.sort === 'size') rows.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1));
      else if (v.sort !== undefined && v.sort !== 'path') throw new UsageError(`--sort ${String(v.sort)}: size or path`);
      if (v.json) return out(toJson(rows)), 0;
      if (v.csv) return process.stdout.write(toCsv(rows, COLUMNS)), 0;
      for (const r of rows) out(v.long ? `${r.type.padEnd(7)} ${r.mode} ${String(r.uid).padStart(5)} ${String(r.gid).padStart(5)} ${String(r.size).padStart(10)} ${r.layer === null ? ' ' : r.layer} ${r.path}` : r.path);
      return 0;
    }
    case 'diff': {
      // two images' merged trees, or one image stacked up to two of its layers (--layers A,B), file
      // by file (content compared by SHA-256)
      let a: ReadOnlyFs, b: ReadOnlyFs;
      if (typeof v.layers === 'string') {
        const m = /^(\d+),(\d+)$/.exec(v.layers);
        const n = img.layers.length;
        if (!m || Number(m[1]) >= n || Number(m[2]) >= n) throw new UsageError(`--layers ${v.layers}: A,B with layers 0 to ${n - 1}`);
        a = treeFs(mergeLayers(img.layers.slice(0, Number(m[1]) + 1)).tree);
        b = treeFs(mergeLayers(img.layers.slice(0, Number(m[2]) + 1)).tree);
      } else {
        if (!image2) throw new UsageError('oci diff compares two images (IMAGE IMAGE2) or two layers of one (IMAGE --layers A,B)');
        a = img.fs;
        b = (await loadOciPath(image2, v)).fs;
      }
      const d = await diffImages(a, b, { content: true });
      if (v.json) return out(toJson(d)), 0;
      for (const e of d.entries) out(`${e.change === 'added' ? '+' : e.change === 'removed' ? '-' : '~'} ${e.path}${e.fields ? `  (${e.fields.join(', ')})` : ''}`);
      out(`${d.added} added, ${d.removed} removed, ${d.changed} changed, ${d.unchanged} unchanged`);
      return d.added + d.removed + d.changed ? 2 : 0;
    }
    default:
      throw new UsageError(`unknown oci subcommand ${JSON.stringify(sub)} (ls, config, history, layers, diff)`);
  }
}


export const CONVERT_OPTS = {
  to: { type: 'string' },
  'digest-store': { type: 'string' },
  'blob-dir': { type: 'string' },
  platform: { type: 'string' },
  ref: { type: 'string' },
  'build-time': { type: 'string', short: 'T' },
  uuid: { type: 'string' },
  json: { type: 'boolean' },
  compressor: { type: 'string' },
  'chunk-size': { type: 'string' },
  'aligned-chunk': { type: 'boolean' },
  'oci-ref': { type: 'boolean' },
  'composefs-rs': { type: 'boolean' },
  'per-layer': { type: 'boolean' },
  aufs: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export const CONVERT_USAGE = 'convert IMAGE --to erofs|composefs|rafs-v6|nydus OUT [--digest-store DIR] [--blob-dir DIR] [-T SECONDS] [--uuid U] [--compressor zstd|none|lz4_block] [--chunk-size N] [--aligned-chunk] [--oci-ref] [--composefs-rs] [--per-layer [--aufs]] [--platform OS/ARCH] [--ref TAG] [--json]';

/** `--to nydus`: as nydusify convert, an OCI layout (OUT a new folder, or OUT.tar an oci-archive) */
async function convertNydus(image: string, outPath: string, v: Record<string, unknown>): Promise<number> {
  const compressor = v.compressor ?? 'zstd';
  if (compressor !== 'zstd' && compressor !== 'none' && compressor !== 'lz4_block') throw new UsageError(`--compressor ${String(compressor)}: zstd, none or lz4_block`);
  let chunkSize: number | undefined;
  if (typeof v['chunk-size'] === 'string') {
    chunkSize = /^(0x[0-9a-f]+|\d+)$/i.test(v['chunk-size']) ? Number(v['chunk-size']) : NaN;
    if (!Number.isSafeInteger(chunkSize)) throw new UsageError(`--chunk-size ${v['chunk-size']}: a number of bytes (a power of two from 4096 to 16 MiB)`);
  }
  const img = await loadOciPath(image, v);
  const sink = outPath.endsWith('.tar') ? await tarLayout(outPath) : await folderLayout(outPath);
  const r = await convertNydusLayout(img, {
    to: 'nydus', compressor, alignedChunk: v['aligned-chunk'] === true, ociRef: v['oci-ref'] === true,
    chunkSize: chunkSize ?? null, ...(typeof v.ref === 'string' ? { ref: v.ref } : {}),
  }, sink, v['oci-ref'] === true ? { files: await ociFiles(image) } : {});
  if (v.json) out(toJson({ format: 'nydus', out: outPath, image: imageSummary(img), ...r }));
  else {
    out(`nydus ${outPath}: manifest ${r.manifest.digest}, ${r.layers.length} blob layers + bootstrap (${r.bootstrap.bootstrapSize} bytes) from ${img.image.kind} ${img.image.name} (${img.image.platform})`);
    for (const l of r.layers) out(`  #${l.index} ${l.digest} ${humanBytes(l.size)} (${l.chunks} chunks)`);
  }
  return 0;
}

/**
 * An OCI image's merged tree (every blob checked, layers stacked) built into one image by the
 * same writers as `build`: EROFS, composefs (its objects into --digest-store), or one RAFS v6
 * bootstrap and blob of the whole merged tree (not nydusify's blob per layer).
 */
export async function runConvert(pos: string[], v: Record<string, unknown>): Promise<number> {
  const [image, outPath] = pos;
  if (!image || !outPath) throw new UsageError('convert IMAGE --to FORMAT OUT');
  const to = v.to;
  if (to === 'nydus') return convertNydus(image, outPath, v);
  if (to !== 'erofs' && to !== 'composefs' && to !== 'rafs-v6') throw new UsageError(`--to ${String(to)}: erofs, composefs, rafs-v6 or nydus`);
  // --per-layer reads each layer's tar again itself: the merged tree's file content is not kept
  // (it was: up to 256 MiB in memory, the rest in a temporary file, all unused)
  const img = await loadOciPath(image, v, v['per-layer'] !== true);
  if (v['per-layer']) return convertErofsPerLayer(img, await ociFiles(image), to, outPath, v);
  // --composefs-rs: the tree as composefs-rs builds it (lib/oci/composefs.ts), its digest printed as an image id
  const rs = v['composefs-rs'] === true;
  if (rs && to !== 'composefs') throw new UsageError('--composefs-rs goes with --to composefs');
  const a: BuildArgs = { format: to, out: outPath };
  if (typeof v['digest-store'] === 'string') a.digestStore = v['digest-store'];
  if (typeof v['blob-dir'] === 'string') a.blobDir = v['blob-dir'];
  if (typeof v.uuid === 'string') a.uuid = v.uuid;
  if (typeof v['build-time'] === 'string') {
    if (!/^\d+$/.test(v['build-time'])) throw new UsageError('-T SECONDS: a whole number');
    a.buildTime = Number(v['build-time']);
  }
  const tree = mergedTree(img, rs);
  const r = await build(tree, a);
  if (rs) {
    // the objects are in the store; OUT is rewritten in composefs-rs' own layout, whose digest is the id
    const o = await composefsRsOutput(tree);
    writeFileSync(outPath, o.image);
    Object.assign(r, { size: o.image.length, digest: o.imageId });
    delete r.version;
  }
  const result = { image: imageSummary(img), ...r, ...(rs ? { imageId: r.digest, imageIdIs: COMPOSEFS_RS_ID_NOTE } : {}) };
  if (v.json) out(toJson(result));
  else out(`${to} ${outPath}: ${r.size} bytes from ${img.image.kind} ${img.image.name} (${img.layers.length} layers, ${img.image.platform})${r.digest ? `, digest ${r.digest}` : ''}`);
  if (rs && !v.json) out(`image id ${r.digest} (${COMPOSEFS_RS_ID_NOTE})`);
  return 0;
}
