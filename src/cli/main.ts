import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isTypedError } from '../lib/errors.ts';
import { readdirAll, resolvePath } from '../lib/fs/path.ts';
import { utf8, type ReadOnlyFs } from '../lib/fs/types.ts';
import { extract } from './extract.ts';
import { humanBytes, isoTime, modeString, showBytes, sizeOrDev, toJson } from './format.ts';
import { closeAll, openImageFile, type ImageArgs } from './open.ts';

const IMAGE_OPTS = {
  blob: { type: 'string', multiple: true },
  'blob-dir': { type: 'string' },
  device: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

interface Command {
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  run(positionals: string[], values: Record<string, unknown>): Promise<number>;
}

const out = (s: string): void => { process.stdout.write(s + '\n'); };

async function open(positionals: string[], values: Record<string, unknown>): Promise<ReadOnlyFs> {
  const img = positionals[0];
  if (!img) throw new UsageError('missing IMAGE');
  return openImageFile(img, values as ImageArgs);
}

class UsageError extends Error {}

const commands: Record<string, Command> = {
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
      const dir = await resolvePath(fs, pos[1] ?? '/');
      const entries = dir.type === 'dir' ? await readdirAll(fs, dir.ino) : [];
      const rows = dir.type === 'dir' ? await Promise.all(entries.map(async (e) => ({ name: e.name, attr: await fs.getattr(e.ino) }))) : [{ name: new TextEncoder().encode(pos[1] ?? ''), attr: dir }];
      if (v.json) {
        const list = [];
        for (const r of rows) list.push({ name: utf8(r.name), ...r.attr, ...(r.attr.type === 'symlink' ? { target: utf8(await fs.readlink(r.attr.ino)) } : {}) });
        out(toJson(list));
        return 0;
      }
      for (const { name, attr } of rows) {
        if (!v.long) { out(showBytes(name)); continue; }
        const link = attr.type === 'symlink' ? ' -> ' + showBytes(await fs.readlink(attr.ino)) : '';
        out(`${modeString(attr)} ${String(attr.nlink).padStart(3)} ${String(attr.uid).padStart(5)} ${String(attr.gid).padStart(5)} ${sizeOrDev(attr).padStart(10)} ${isoTime(attr.mtime, attr.mtimeNsec)} ${showBytes(name)}${link}`);
      }
      return 0;
    },
  },
  stat: {
    usage: 'stat IMAGE PATH [--json]',
    summary: 'every inode field, layout, xattrs, extents or chunks',
    options: IMAGE_OPTS,
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!pos[1]) throw new UsageError('missing PATH');
      const attr = await resolvePath(fs, pos[1]);
      const xattrs: { name: string; value: string }[] = [];
      for (const n of await fs.listxattr(attr.ino)) xattrs.push({ name: showBytes(n), value: showBytes((await fs.getxattr(attr.ino, n)) ?? new Uint8Array()) });
      const result = {
        path: pos[1],
        ...attr,
        ...(attr.type === 'symlink' ? { target: showBytes(await fs.readlink(attr.ino)) } : {}),
        xattrs,
        layout: await fs.inodeDetails(attr.ino),
      };
      if (v.json) out(toJson(result));
      else printTree({ ...result, mode: `${(attr.mode & 0o7777).toString(8).padStart(4, '0')} (${modeString(attr)})`, mtime: isoTime(attr.mtime, attr.mtimeNsec), mtimeNsec: undefined, size: `${attr.size} (${humanBytes(attr.size)})` });
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
    usage: 'extract IMAGE DIR [--path PATH] [--no-owners] [--no-xattrs]',
    summary: 'restore the tree (content, modes, owners, mtimes, links, devices, xattrs) into DIR',
    options: { ...IMAGE_OPTS, path: { type: 'string' }, 'no-owners': { type: 'boolean' }, 'no-xattrs': { type: 'boolean' } },
    async run(pos, v) {
      const fs = await open(pos, v);
      if (!pos[1]) throw new UsageError('missing DIR');
      const start = v.path ? (await resolvePath(fs, v.path as string)).ino : fs.rootIno;
      const opts: Parameters<typeof extract>[2] = { startIno: start, xattrs: !v['no-xattrs'] };
      if (v['no-owners']) opts.owners = false;
      const report = await extract(fs, pos[1], opts);
      if (v.json) out(toJson(report));
      else {
        out(`${report.entries} entries: ${report.files} files (${humanBytes(report.bytes)}), ${report.dirs} dirs, ${report.symlinks} symlinks, ${report.hardlinks} hardlinks, ${report.specials} special files`);
        for (const s of report.skipped) out(`skipped ${s.path}: ${s.reason}`);
        for (const w of report.warnings) out(`warning: ${w}`);
      }
      return report.skipped.length || report.warnings.length ? 2 : 0;
    },
  },
};

function printTree(v: unknown, indent = ''): void {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) {
    out(indent + fmtScalar(v));
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    if (Array.isArray(x)) {
      out(`${indent}${k}: [${x.length}]`);
      x.slice(0, 1000).forEach((e, i) => {
        if (e !== null && typeof e === 'object' && !(e instanceof Uint8Array)) {
          out(`${indent}  [${i}]`);
          printTree(e, indent + '    ');
        } else out(`${indent}  ${fmtScalar(e)}`);
      });
      if (x.length > 1000) out(`${indent}  … ${x.length - 1000} more (use --json)`);
    } else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) {
      out(`${indent}${k}:`);
      printTree(x, indent + '  ');
    } else out(`${indent}${k}: ${fmtScalar(x)}`);
  }
}

function fmtScalar(x: unknown): string {
  if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
  return String(x);
}

function help(): void {
  out('layerscope — inspect and build EROFS, composefs and Nydus RAFS images\n\nUsage: layerscope COMMAND ...\n');
  for (const [name, c] of Object.entries(commands)) out(`  ${('layerscope ' + c.usage).padEnd(80)} ${c.summary}`);
  out('\nThe image format is detected from magic numbers, never from the file name.');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    help();
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`layerscope: unknown command '${name}'\n`);
    help();
    return 1;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: cmd.options ?? {}, allowPositionals: true, strict: true });
    return await cmd.run(positionals, values);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`layerscope ${name}: ${(e as Error).message}\nusage: layerscope ${cmd.usage}\n`);
      return 1;
    }
    if (isTypedError(e)) {
      process.stderr.write(`layerscope ${name}: ${e.name}: ${e.message}\n`);
      return 3;
    }
    throw e;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} finally {
  await closeAll();
}
