import { parseArgs, type ParseArgsConfig } from 'node:util';
import './native.ts';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isRafs } from '../lib/app/capabilities.ts';
import { checkFindings, checkImage, checkSummary } from '../lib/app/check.ts';
import { nameText } from '../lib/app/names.ts';
import type { OpenedInput } from '../lib/app/open.ts';
import { entryRecord, inodePaths, listEntries, statRecord } from '../lib/app/records.ts';
import { imageStats } from '../lib/app/stats.ts';
import { dumpChunks } from '../lib/composefs/dump.ts';
import { FormatError, IoError, NotFoundError, UnsupportedError } from '../lib/errors.ts';
import { resolvePath } from '../lib/fs/path.ts';
import type { ReadOnlyFs } from '../lib/fs/types.ts';
import { diffImages } from '../lib/inspect/diff.ts';
import { compactRafsToFiles, mergeRafsToFile } from '../lib/rafs/builder/node.ts';
import { chunkUsers, rafsBlobs, rafsPrefetch } from '../lib/rafs/analyze.ts';
import type { RafsFs } from '../lib/rafs/model.ts';
import { exportTar } from '../lib/tar/writer.ts';
import { build, loadSource } from './build.ts';
import { startVerityPool } from './verity-pool.ts';
import { warmRafsCompressPool } from './compress-pool.ts';
import { DEFAULT_INLINE_MAX } from '../lib/composefs/writer.ts';
import { newDir } from '../lib/fs/tree.ts';
import { defaultThreads, extract } from './extract.ts';
import { humanBytes, isoTime, JsonArrayOut, modeString, out, printTree, sizeOrDev, toJson, UsageError, writeOut } from './format.ts';
import { closeAll, openImageFile, openPath, type ImageArgs } from './open.ts';
import { CONVERT_OPTS, CONVERT_USAGE, OCI_OPTS, OCI_USAGE, runConvert, runOci } from './oci.ts';

/** Exit statuses (the README's table says the same). */
export const EXIT = {
  ok: 0,
  /** a command line the CLI cannot run: unknown command or option, a missing argument */
  usage: 1,
  /** done, with entries skipped or warnings (diff: the images differ) */
  partial: 2,
  /** the image is damaged: the message names the structure and byte offset */
  damaged: 3,
  /** check found errors */
  checkFailed: 4,
  /** a path that does not exist: a file named on the command line, or a path inside the image */
  notFound: 5,
  /** a valid image using a feature Layerscope does not read (or write) yet */
  unsupported: 6,
  /** an input could not be read (permissions, not a regular file, a short read) */
  io: 7,
} as const;

const IMAGE_OPTS = {
  blob: { type: 'string', multiple: true },
  'blob-dir': { type: 'string' },
  device: { type: 'string', multiple: true },
  objects: { type: 'string' },
  /** composefs dumps: strict as mkcomposefs with CFS_PARSE_STRICT (also set by that variable) */
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

interface Command {
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  run(positionals: string[], values: Record<string, unknown>): Promise<number>;
}


/**
 * IMAGE is an image (by magic); a directory, a tar/tar.gz layer or a composefs dump is read as the
 * tree it holds, so `ls`, `cat`, `stat`, `diff`... work on a layer as on an image.
 */
async function openInputArg(positionals: string[], values: Record<string, unknown>): Promise<OpenedInput> {
  const img = positionals[0];
  if (!img) throw new UsageError('missing IMAGE');
  return openPath(img, values as ImageArgs);
}

async function open(positionals: string[], values: Record<string, unknown>): Promise<ReadOnlyFs> {
  return (await openInputArg(positionals, values)).fs;
}

const commands: Record<string, Command> = {
  oci: {
    usage: OCI_USAGE,
    summary: 'an OCI image layout (folder or tar) or docker save archive: merged files, config, history, layers and dive efficiency, image diff',
    options: OCI_OPTS,
    run: runOci,
  },
  convert: {
    usage: CONVERT_USAGE,
    summary: 'an OCI image (layout folder or tar, docker save) to one EROFS, composefs or RAFS v6 image of its merged tree',
    options: CONVERT_OPTS,
    run: runConvert,
  },
  inspect: {
    usage: 'inspect IMAGE [--json] [--blob FILE]... [--blob-dir DIR] [--device FILE]...',
    summary: 'superblock, features and counts',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      const info = await fs.info();
      if (v.json) out(toJson(info));
      else printTree(info);
      return 0;
    },
  },
  ls: {
    usage: 'ls IMAGE [PATH] [-l] [--json]',
    summary: 'list a directory',
    options: { ...IMAGE_OPTS, long: { type: 'boolean', short: 'l' } },
    async run(pos, v) {
      const fs = await open(pos, v);
      // printed entry by entry as the directory is read a page at a time, text and JSON alike
      const entries = listEntries(fs, pos[1] ?? '/');
      if (v.json) {
        const list = new JsonArrayOut();
        for await (const e of entries) await list.push(await entryRecord(fs, e));
        await list.end();
        return 0;
      }
      for await (const { name, attr } of entries) {
        if (!v.long) {
          await writeOut(nameText(name) + '\n');
          continue;
        }
        const link = attr.type === 'symlink' ? ' -> ' + nameText(await fs.readlink(attr.ino)) : '';
        await writeOut(`${modeString(attr)} ${String(attr.nlink).padStart(3)} ${String(attr.uid).padStart(5)} ${String(attr.gid).padStart(5)} ${sizeOrDev(attr).padStart(10)} ${isoTime(attr.mtime, attr.mtimeNsec)} ${nameText(name)}${link}\n`);
      }
      return 0;
    },
  },
  stat: {
    usage: 'stat IMAGE PATH... [--json]',
    summary: 'every inode field, layout, xattrs, extents or chunks (several paths: a JSON array)',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      const paths = pos.slice(1);
      if (!paths.length) throw new UsageError('missing PATH');
      const results = [];
      for (const path of paths) {
        const r = await statRecord(fs, path);
        if (v.json) results.push(r);
        else {
          if (paths.length > 1) out('');
          printTree({ ...r, mode: `${(r.mode & 0o7777).toString(8).padStart(4, '0')} (${modeString(r)})`, mtime: isoTime(r.mtime, r.mtimeNsec), mtimeNsec: undefined, size: `${r.size} (${humanBytes(r.size)})` });
        }
      }
      if (v.json) out(toJson(paths.length === 1 ? results[0] : results));
      return 0;
    },
  },
  cat: {
    usage: 'cat IMAGE PATH',
    summary: 'write a file\'s content to stdout',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!pos[1]) throw new UsageError('missing PATH');
      const attr = await resolvePath(fs, pos[1]);
      if (attr.type !== 'reg') throw new UsageError(`${pos[1]} is a ${attr.type}, not a regular file`);
      for (let off = 0; off < attr.size; ) {
        const piece = await fs.read(attr.ino, off, Math.min(4 << 20, attr.size - off));
        if (piece.length === 0) break;
        if (!process.stdout.write(piece)) await new Promise((r) => process.stdout.once('drain', r));
        off += piece.length;
      }
      return 0;
    },
  },
  extract: {
    usage: 'extract IMAGE DIR [--path PATH] [--no-owners] [--no-xattrs] [--threads N]',
    summary: 'restore the tree (content, modes, owners, mtimes, links, devices, xattrs) into DIR; N threads (default: one per core, up to 4)',
    options: { ...IMAGE_OPTS, path: { type: 'string' }, 'no-owners': { type: 'boolean' }, 'no-xattrs': { type: 'boolean' }, threads: { type: 'string' } },
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!pos[1]) throw new UsageError('missing DIR');
      const start = v.path ? (await resolvePath(fs, v.path as string)).ino : fs.rootIno;
      const threads = v.threads === undefined ? await defaultThreads(fs) : Number(v.threads);
      if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new UsageError(`--threads wants a whole number from 1 to 64, not ${String(v.threads)}`);
      const opts: Parameters<typeof extract>[2] = { startIno: start, xattrs: !v['no-xattrs'], threads };
      if (v['no-owners']) opts.owners = false;
      const report = await extract(fs, pos[1], opts);
      if (v.json) out(toJson(report));
      else {
        out(`${report.entries} entries: ${report.files} files (${humanBytes(report.bytes)}), ${report.dirs} dirs, ${report.symlinks} symlinks, ${report.hardlinks} hardlinks, ${report.specials} special files${report.threads > 1 ? ` (${report.threads} threads)` : ''}`);
        for (const s of report.skipped) out(`skipped ${s.path}: ${s.reason}`);
        for (const w of report.warnings) out(`warning: ${w}`);
      }
      return report.skipped.length || report.warnings.length ? 2 : 0;
    },
  },
  check: {
    usage: 'check IMAGE [--json] [--no-data] [--blob-ids]',
    summary: 'verify metadata and every byte (RAFS: every chunk digest); exit 4 on any error',
    options: { ...IMAGE_OPTS, 'no-data': { type: 'boolean' }, 'blob-ids': { type: 'boolean' } },
    async run(pos, v) {
      const fs = await open(pos, v);
      const tty = process.stderr.isTTY;
      let last = 0;
      const tick = (msg: string): void => {
        const now = Date.now();
        if (tty && now - last > 200) { process.stderr.write(`\r${msg}`.padEnd(80)); last = now; }
      };
      const c = await checkImage(fs, { data: !v['no-data'], blobIds: !!v['blob-ids'], onProgress: (p) => tick(`${p.phase} ${p.done}${p.total ? `/${p.total}` : ''} entries, ${humanBytes(p.bytes)}`) });
      if (tty) process.stderr.write('\r'.padEnd(81) + '\r');
      if (v.json) out(toJson(c.report));
      else {
        const s = checkSummary(c);
        out(`${s.ok ? 'OK' : 'FAILED'}: ${s.entries} entries, ${s.files} files, ${c.kind === 'rafs' ? `${s.chunks} chunks (${humanBytes(s.bytes)}) ${s.verification}` : `${humanBytes(s.bytes)} read`}`);
        for (const line of checkFindings(c)) out(line);
      }
      return c.report.ok ? EXIT.ok : EXIT.checkFailed;
    },
  },
  export: {
    usage: 'export IMAGE OUT.tar [--path PATH]   (OUT "-" writes to stdout)',
    summary: 'the whole image or a subtree as a PAX tar (xattrs, hardlinks, devices)',
    options: { ...IMAGE_OPTS, path: { type: 'string' } },
    async run(pos, v) {
      const fs = await open(pos, v);
      const dest = pos[1];
      if (!dest) throw new UsageError('missing OUT.tar');
      const start = v.path ? (await resolvePath(fs, v.path as string)).ino : fs.rootIno;
      const stream = dest === '-' ? process.stdout : createWriteStream(dest);
      const r = await exportTar(fs, start, {
        write: (chunk) => (stream.write(chunk) ? undefined : new Promise<void>((res) => stream.once('drain', () => res()))),
      });
      if (stream !== process.stdout) await new Promise<void>((res, rej) => (stream as ReturnType<typeof createWriteStream>).end((e?: Error | null) => (e ? rej(e) : res())));
      const msg = `${r.entries} entries, ${humanBytes(r.bytes)}` + (r.skipped.length ? `; skipped: ${r.skipped.join(', ')}` : '');
      process.stderr.write(msg + '\n');
      return r.skipped.length ? 2 : 0;
    },
  },
  build: {
    usage: 'build --format composefs|erofs|rafs-v6|rafs-v5 SRC OUT [--json]\n' +
      '      composefs: [--digest-store DIR] [--min-version N] [--max-version N] [--print-digest] [--hardlinks keep|split]\n' +
      '                 --hardlinks split: one inode per name, nlink 1 (mkcomposefs 1.0.8 from a directory); keep (default): shared inode, real link count\n' +
      '      SRC a composefs dump (or .dump.gz): lenient as mkcomposefs; --strict or CFS_PARSE_STRICT in the environment: strict\n' +
      '      erofs:     [--chunksize N] [--uuid U] [-T SECONDS] [--no-inline] [-z lz4|lz4hc[,LEVEL]|deflate[,LEVEL]|zstd[,LEVEL]] [-C PCLUSTER_BYTES]\n' +
      '                 [-b BLOCK_BYTES] [-E ztailpacking,fragments,dedupe,legacy-compress]\n' +
      '      rafs-*:    --blob-dir DIR [--compressor zstd|lz4_block|none|gzip] [--digester blake3|sha256] [--chunk-size N] [--batch-size N]\n' +
      '                 (defaults as nydus-image 2.4: zstd, blake3, 1 MiB chunks; nydus-image itself no longer builds gzip)\n' +
      '                 [--parent BOOT] [--chunk-dict BOOT] [--prefetch-list FILE] [--aligned-chunk]\n' +
      '                 [--type targz-ref]: SRC a .tar.gz layer, referenced as the data blob (ZRAN checkpoints; OUT and a RAFS meta blob in --blob-dir)\n' +
      '                 [--type tar-tarfs]: SRC an uncompressed tar, used as the data blob itself (512-byte blocks; only OUT is written)\n' +
      '                 [--tar=i [--aufs]]: EROFS in tar index mode (mkfs.erofs --tar=i): SRC an uncompressed tar, mounted as device 1 (only OUT is written); --aufs: OCI whiteouts as overlayfs ones\n' +
      '                 [--encrypt]: v6, AES-128-XTS blob with a random key and IV kept in the bootstrap (as nydus-image --encrypt)',
    summary: 'build an image from a directory, tar/tar.gz layer, composefs dump or any image',
    options: {
      ...IMAGE_OPTS,
      format: { type: 'string' }, 'digest-store': { type: 'string' }, 'min-version': { type: 'string' }, 'max-version': { type: 'string' },
      chunksize: { type: 'string' }, uuid: { type: 'string' }, 'build-time': { type: 'string', short: 'T' }, 'no-inline': { type: 'boolean' },
      z: { type: 'string', short: 'z' }, C: { type: 'string', short: 'C' }, E: { type: 'string', short: 'E', multiple: true }, b: { type: 'string', short: 'b' },
      'print-digest': { type: 'boolean' }, hardlinks: { type: 'string' },
      compressor: { type: 'string' }, digester: { type: 'string' }, 'chunk-size': { type: 'string' }, parent: { type: 'string' },
      'chunk-dict': { type: 'string' }, 'prefetch-list': { type: 'string' }, 'aligned-chunk': { type: 'boolean' }, 'batch-size': { type: 'string' },
      type: { type: 'string' }, encrypt: { type: 'boolean' }, tar: { type: 'string' }, aufs: { type: 'boolean' },
    },
    async run(pos, v) {
      const [src, dest] = pos;
      if (!src || !dest) throw new UsageError('missing SRC or OUT');
      const format = (v.format as string | undefined) ?? 'erofs';
      const num = (k: string): number | undefined => {
        if (v[k] === undefined) return undefined;
        const n = Number(v[k]);
        if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${k} takes a whole number`);
        return n;
      };
      // --type targz-ref / tar-tarfs read SRC themselves (it is referenced as the blob): no tree to load first
      if (v.tar !== undefined) {
        if (v.tar !== 'i') throw new UsageError(`--tar=${String(v.tar)}: Layerscope builds --tar=i (tar index mode) only; a full EROFS of a tar is --format erofs without --tar`);
        if (v.type) throw new UsageError('--tar=i conflicts with --type');
        v.type = 'tar-index';
      } else if (v.aufs) throw new UsageError('--aufs goes with --tar=i');
      // composefs: files are hashed on threads while SRC is listed (inline ones, up to 64 bytes, are not)
      if (format === 'composefs' && !v.type) startVerityPool(DEFAULT_INLINE_MAX + 1);
      // RAFS: the compress threads start and warm up while SRC is listed (compress-pool.ts)
      if (format.startsWith('rafs') && !v.type) warmRafsCompressPool(v.compressor as string | undefined);
      const tree = v.type === 'targz-ref' || v.type === 'tar-tarfs' || v.type === 'tar-index' ? { root: newDir(), notes: [] } : await loadSource(src, v as ImageArgs);
      const args: Parameters<typeof build>[1] = { format, out: dest };
      if (v['digest-store']) args.digestStore = v['digest-store'] as string;
      if (v.hardlinks !== undefined) args.hardlinks = v.hardlinks as string;
      const opt = { minVersion: num('min-version'), maxVersion: num('max-version'), chunkSize: num('chunksize') ?? num('chunk-size'), buildTime: num('build-time') };
      if (v['blob-dir']) args.blobDir = v['blob-dir'] as string;
      if (v.compressor) args.compressor = v.compressor as string;
      const batch = num('batch-size');
      if (batch !== undefined) args.batchSize = batch;
      if (v.digester) args.digester = v.digester as string;
      if (v['aligned-chunk']) args.alignedChunk = true;
      if (v.type) Object.assign(args, { type: v.type as string, tarfsSource: src });
      if (v.encrypt) args.encrypt = true;
      if (v.aufs) args.aufs = true;
      const related = async (flag: string): Promise<RafsFs | undefined> => {
        if (!v[flag]) return undefined;
        const fs = await openImageFile(v[flag] as string, v as ImageArgs);
        if (!isRafs(fs)) throw new UsageError(`--${flag} must be a RAFS bootstrap, ${v[flag]} is ${fs.format}`);
        return fs;
      };
      const parent = await related('parent');
      if (parent) args.parent = parent;
      const dict = await related('chunk-dict');
      if (dict) args.chunkDict = dict;
      if (v['prefetch-list']) args.prefetch = (await readFile(v['prefetch-list'] as string, 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/'));
      for (const [k, x] of Object.entries(opt)) if (x !== undefined) (args as unknown as Record<string, unknown>)[k] = x;
      if (v.uuid) args.uuid = v.uuid as string;
      if (v['no-inline']) args.inlineData = false;
      if (v.z) args.compression = v.z as string;
      const pcluster = num('C');
      if (pcluster !== undefined) args.pclusterSize = pcluster;
      if (v.E) args.extended = v.E as string[];
      const bs = num('b');
      if (bs !== undefined) args.blockSize = bs;
      const r = await build(tree, args);
      if (v.json) out(toJson({ ...r, notes: tree.notes }));
      else if (v['print-digest']) out(r.digest ?? '');
      else {
        out(`${r.format} image ${r.out}: ${humanBytes(r.size)}${r.digest ? `, fs-verity digest ${r.digest}` : ''}`);
        const zran = r.zran as { layer: string; chunks: number; contexts: number } | undefined;
        if (r.blob) out(`${zran ? 'RAFS meta blob' : 'data blob'} ${r.blob}: ${humanBytes(r.blobSize as number)}`);
        if (zran) out(`data blob ${zran.layer} (referenced as it is, id ${String(r.blobId)}): ${zran.chunks} chunks, ${zran.contexts} ZRAN contexts`);
        for (const n of (r.notes as string[] | undefined) ?? []) out(`note: ${n}`);
        if (r.objects) out(`object store: ${r.objects.count} objects, ${r.objects.written} written (${humanBytes(r.objects.bytes)})`);
        for (const n of tree.notes) out(`note: ${n}`);
      }
      return 0;
    },
  },
  dump: {
    usage: 'dump IMAGE',
    summary: 'composefs-dump(5) text of any image (identical to composefs-info dump for composefs)',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      for await (const chunk of dumpChunks(fs)) {
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      }
      return 0;
    },
  },
  merge: {
    usage: 'merge OUT.boot LAYER.boot... [--blob-dir DIR] [--json]',
    summary: 'RAFS: merge layer bootstraps (lowest first) into one, applying whiteouts',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const [dest, ...layers] = pos;
      if (!dest || layers.length === 0) throw new UsageError('missing OUT.boot or layers');
      const fss: RafsFs[] = [];
      for (const l of layers) {
        const fs = await openImageFile(l, v as ImageArgs);
        if (!isRafs(fs)) throw new UsageError(`${l} is ${fs.format}, not a RAFS bootstrap`);
        fss.push(fs);
      }
      const r = await mergeRafsToFile(fss, {}, dest);
      if (v.json) out(toJson(r));
      else {
        out(`merged ${layers.length} layers into ${dest}: ${r.entries} entries, ${humanBytes(r.bootstrapSize)}, blobs ${r.blobIds.join(', ')}`);
        for (const n of r.notes) out(`note: ${n}`);
      }
      return 0;
    },
  },
  compact: {
    usage: 'compact BOOT OUT.boot --blob-dir DIR [--min-used-ratio N] [--compact-blob-size N] [--max-compact-size N] [--layers-to-compact N] [--chunk-dict BOOT] [--json]',
    summary: 'RAFS: rewrite sparse or small blobs (chunks copied verbatim); new bootstrap and blobs',
    options: { ...IMAGE_OPTS, 'min-used-ratio': { type: 'string' }, 'compact-blob-size': { type: 'string' }, 'max-compact-size': { type: 'string' }, 'layers-to-compact': { type: 'string' }, 'chunk-dict': { type: 'string' } },
    async run(pos, v) {
      const [boot, dest] = pos;
      if (!boot || !dest) throw new UsageError('missing BOOT or OUT.boot');
      if (!v['blob-dir']) throw new UsageError('--blob-dir DIR is needed (the blobs are read from and written to it)');
      const fs = await openImageFile(boot, v as ImageArgs);
      if (!isRafs(fs)) throw new UsageError(`${boot} is ${fs.format}, not a RAFS bootstrap`);
      const opts: Parameters<typeof compactRafsToFiles>[1] = {};
      const n = (k: string): number | undefined => (v[k] === undefined ? undefined : Number(v[k]));
      const set = { minUsedRatio: n('min-used-ratio'), compactBlobSize: n('compact-blob-size'), maxCompactSize: n('max-compact-size'), layersToCompact: n('layers-to-compact') };
      for (const [k, x] of Object.entries(set)) if (x !== undefined) (opts as Record<string, unknown>)[k] = x;
      if (v['chunk-dict']) {
        const d = await openImageFile(v['chunk-dict'] as string, v as ImageArgs);
        if (!isRafs(d)) throw new UsageError('--chunk-dict must be a RAFS bootstrap');
        opts.chunkDict = d;
      }
      const r = await compactRafsToFiles(fs, opts, dest, v['blob-dir'] as string);
      if (v.json) out(toJson(r));
      else {
        for (const d of r.decisions) out(`blob ${d.index}: ${d.action} (used ${d.usedRatio.toFixed(1)}%) ${d.reason}`);
        out(r.changed ? `wrote ${dest}; new blobs: ${r.newBlobIds.join(', ') || 'none'}` : 'nothing to compact: every blob kept');
      }
      return 0;
    },
  },
  diff: {
    usage: 'diff IMAGE_A IMAGE_B [--no-content] [--json]   (image options apply to both)',
    summary: 'paths added (+), removed (-) and changed (M, with the fields) from A to B; shared Nydus chunks; exit 2 when they differ',
    options: { ...IMAGE_OPTS, 'no-content': { type: 'boolean' } },
    async run(pos, v) {
      const [pa, pb] = pos;
      if (!pa || !pb) throw new UsageError('missing IMAGE_A or IMAGE_B');
      const a = await open([pa], v);
      const b = await open([pb], v);
      const d = await diffImages(a, b, { content: !v['no-content'] });
      if (v.json) out(toJson(d));
      else {
        const mark = { added: '+', removed: '-', changed: 'M' } as const;
        for (const e of d.entries) out(`${mark[e.change]} ${e.path}${e.fields ? `  (${e.fields.join(', ')})` : ''}`);
        out(`${d.added} added, ${d.removed} removed, ${d.changed} changed, ${d.unchanged} unchanged`);
        if (d.sharedChunks) out(`chunks shared: ${d.sharedChunks.shared} (${humanBytes(d.sharedChunks.sharedBytes)}) of ${d.sharedChunks.chunksA} in A and ${d.sharedChunks.chunksB} in B`);
      }
      return d.entries.length ? 2 : 0;
    },
  },
  stats: {
    usage: 'stats IMAGE [--json]',
    summary: 'counts, file-size (and RAFS chunk-size) histograms, dedup figures, largest files',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const o = await openInputArg(pos, v);
      const r = await imageStats(o.fs, o.image);
      if (v.json) out(toJson(r));
      else printTree(r);
      return 0;
    },
  },
  blobs: {
    usage: 'blobs IMAGE [--json]',
    summary: 'RAFS blob table: every field of every blob',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!isRafs(fs)) throw new UsageError(`${fs.format} images have no blob table`);
      const r = await rafsBlobs(fs);
      if (v.json) out(toJson(r));
      else printTree({ blobs: r });
      return 0;
    },
  },
  prefetch: {
    usage: 'prefetch IMAGE [--json]',
    summary: 'RAFS prefetch table, as paths',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!isRafs(fs)) throw new UsageError(`${fs.format} images have no prefetch table`);
      const r = await rafsPrefetch(fs);
      if (v.json) out(toJson(r));
      else printTree(r);
      return 0;
    },
  },
  chunk: {
    usage: 'chunk IMAGE (--digest HEX | --offset N [--blob-index I]) [--json]',
    summary: 'RAFS: a chunk and every file (path, offset) sharing it',
    options: { ...IMAGE_OPTS, digest: { type: 'string' }, offset: { type: 'string' }, 'blob-index': { type: 'string' } },
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!isRafs(fs)) throw new UsageError(`${fs.format} images have no chunk table`);
      if (v.digest === undefined && v.offset === undefined) throw new UsageError('give --digest or --offset');
      const q: Parameters<typeof chunkUsers>[1] = {};
      if (v.digest !== undefined) q.digest = v.digest as string;
      if (v.offset !== undefined) q.compressedOffset = Number(v.offset);
      if (v['blob-index'] !== undefined) q.blobIndex = Number(v['blob-index']);
      const r = await chunkUsers(fs, q);
      if (v.json) out(toJson(r));
      else printTree({ chunks: r });
      return r.length ? 0 : 2;
    },
  },
  paths: {
    usage: 'paths IMAGE INO [--json]',
    summary: 'every path of an inode (hardlinks)',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      const ino = Number(pos[1]);
      if (!Number.isSafeInteger(ino)) throw new UsageError('INO must be an inode number (see stat)');
      const r = await inodePaths(fs, ino);
      if (v.json) out(toJson(r));
      else printTree(r);
      return 0;
    },
  },
};

function help(): void {
  out('layerscope — inspect and build EROFS, composefs and Nydus RAFS images\n\nUsage: layerscope COMMAND ...\n');
  for (const [name, c] of Object.entries(commands)) out(`  ${('layerscope ' + c.usage).padEnd(80)} ${c.summary}`);
  out('\nThe image format is detected from magic numbers, never from the file name.');
}

function commandHelp(name: string, cmd: Command): void {
  out(`usage: layerscope ${cmd.usage}\n\n${cmd.summary}`);
  const opts = Object.entries(cmd.options ?? {});
  if (opts.length) out('\noptions: ' + opts.map(([k, o]) => `${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ' VALUE' : ''}${o.multiple ? '...' : ''}`).join('  '));
  if (name !== 'build' && name !== 'merge' && name !== 'compact') out('\nIMAGE may be an EROFS, composefs or Nydus RAFS image (told apart by magic), a tar or tar.gz layer, a composefs dump or a directory.');
}

/** What a failure means for the exit status and the one line on stderr (null: a bug, thrown on). */
export function exitStatusOf(e: unknown): number | null {
  if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return EXIT.usage;
  if (e instanceof FormatError) return EXIT.damaged;
  if (e instanceof NotFoundError) return EXIT.notFound;
  if (e instanceof UnsupportedError) return EXIT.unsupported;
  if (e instanceof IoError) return EXIT.io;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return EXIT.notFound;
  // a file the user named is unreadable, a directory where a file is wanted…
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return EXIT.io;
  return null;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const cmd = topic ? commands[topic] : undefined;
    if (cmd) commandHelp(topic!, cmd);
    else help();
    return name ? EXIT.ok : EXIT.usage;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`layerscope: unknown command '${name}'\n`);
    help();
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    commandHelp(name, cmd);
    return EXIT.ok;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options ?? {}, allowPositionals: true, strict: true });
    return await cmd.run(positionals, values);
  } catch (e) {
    const status = exitStatusOf(e);
    if (status === null) throw e;
    if (status === EXIT.usage) process.stderr.write(`layerscope ${name}: ${(e as Error).message}\nusage: layerscope ${cmd.usage}\n`);
    else process.stderr.write(`layerscope ${name}: ${(e as Error).name}: ${(e as Error).message}\n`);
    return status;
  }
}

// `layerscope ls IMG | head` closes the pipe early: that is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
try {
  process.exitCode = await main(process.argv.slice(2));
} finally {
  await closeAll();
}
