// CLI behaviour users rely on: exit statuses by kind of failure, `CMD --help`, UTF-8 names in `ls`,
// and `extract` restoring the root directory's mode, owner and mtime. Images come from mkfs.erofs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixErofsSuperblockChecksum } from './helpers/mktree.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const dir = tempDir('ls-cliapp-');
const src = join(dir, 'src');
mkdirSync(join(src, 'sub'), { recursive: true });
writeFileSync(join(src, 'café'), 'coffee\n');
writeFileSync(Buffer.concat([Buffer.from(src + '/'), Buffer.from([0x62, 0x61, 0x64, 0xff])]), ''); // "bad" + a byte that is not UTF-8
writeFileSync(join(src, 'sub', 'file'), 'x');
// the root: sticky and world-writable, owned by someone else, an old mtime
chmodSync(src, 0o1777);
chownSync(src, 1234, 5678);
utimesSync(src, 1_000_000_000, 1_000_000_000);
const image = join(dir, 'root1777.erofs');
const mk = spawnSync('mkfs.erofs', [image, src], { encoding: 'utf8' });
assert.equal(mk.status, 0, mk.stderr);

describe('layerscope exit statuses', () => {
  test('0 ok, 1 usage, 3 damaged, 5 not found, 6 unsupported', () => {
    assert.equal(cli(['ls', image, '/']).status, 0);
    // usage: an unknown option, a missing argument, an unknown command
    assert.equal(cli(['ls', image, '--no-such-option']).status, 1);
    assert.equal(cli(['cat', image]).status, 1);
    assert.equal(cli(['no-such-command']).status, 1);
    // not found: the image file, a path inside the image, a --blob-dir
    const gone = cli(['ls', join(dir, 'missing.erofs')]);
    assert.equal(gone.status, 5, gone.stderr);
    assert.match(gone.stderr, /NotFoundError: .*missing\.erofs/);
    assert.equal(cli(['stat', image, '/sub/nothing']).status, 5);
    assert.equal(cli(['ls', image, '--blob-dir', join(dir, 'no-blobs')]).status, 5);
    // damaged: a block size no EROFS image has
    const bytes = readFileSync(image);
    const damaged = Buffer.from(bytes);
    damaged.writeUInt8(99, 1024 + 12);
    writeFileSync(join(dir, 'damaged.erofs'), damaged);
    const d = cli(['ls', join(dir, 'damaged.erofs')]);
    assert.equal(d.status, 3, d.stderr);
    assert.match(d.stderr, /FormatError/);
    // unsupported: a valid image that uses an incompat feature bit newer than we know
    const newer = Buffer.from(bytes);
    newer.writeUInt32LE((newer.readUInt32LE(1024 + 80) | 0x80000000) >>> 0, 1024 + 80);
    fixErofsSuperblockChecksum(newer);
    writeFileSync(join(dir, 'newer.erofs'), newer);
    const u = cli(['ls', join(dir, 'newer.erofs')]);
    assert.equal(u.status, 6, u.stderr);
    assert.match(u.stderr, /UnsupportedError/);
  });

  test('the README table lists every status', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7]) assert.match(readme, new RegExp(`\\| ${n} \\|`), `README: status ${n}`);
  });
});

describe('layerscope CMD --help', () => {
  test('every command prints its own usage and exits 0', () => {
    const list = cli(['--help']).stdout;
    const names = [...list.matchAll(/^ {2}layerscope (\S+)/gm)].map((m) => m[1]!);
    assert.ok(names.length >= 15, list);
    for (const name of names) {
      for (const flag of ['--help', '-h']) {
        const r = cli([name, flag]);
        assert.equal(r.status, 0, `${name} ${flag}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: layerscope ${name} `), name);
        assert.equal(r.stderr, '');
      }
    }
    assert.match(cli(['help', 'extract']).stdout, /^usage: layerscope extract IMAGE DIR/);
  });
});

describe('layerscope ls names', () => {
  test('valid UTF-8 prints as UTF-8, other bytes as \\xNN, on an image and on a folder', () => {
    for (const input of [image, src]) {
      const r = cli(['ls', input, '/']);
      assert.equal(r.status, 0, r.stderr);
      const names = r.stdout.trim().split('\n');
      assert.ok(names.includes('café'), r.stdout);
      assert.ok(names.includes('bad\\xff'), r.stdout);
      assert.ok(cli(['ls', input, '/', '-l']).stdout.includes(' café\n'));
    }
  });
});

describe('layerscope paths', () => {
  test('every name of a hardlinked inode: EROFS walked, RAFS v6 from its path table, rendered alike', () => {
    const tree = join(dir, 'links');
    mkdirSync(join(tree, 'a'), { recursive: true });
    writeFileSync(join(tree, 'one'), 'shared\n');
    linkSync(join(tree, 'one'), join(tree, 'a', 'café'));
    linkSync(join(tree, 'one'), Buffer.concat([Buffer.from(join(tree, 'a') + '/'), Buffer.from([0x78, 0xfe])]));
    writeFileSync(join(tree, 'alone'), 'x');
    const erofs = join(dir, 'links.erofs');
    const mk = spawnSync('mkfs.erofs', [erofs, tree], { encoding: 'utf8' });
    assert.equal(mk.status, 0, mk.stderr);
    const boot = join(dir, 'links.boot');
    const blobs = join(dir, 'links-blobs');
    mkdirSync(blobs);
    const b = cli(['build', '--format', 'rafs-v6', tree, boot, '--blob-dir', blobs]);
    assert.equal(b.status, 0, b.stderr);
    for (const args of [[erofs], [boot, '--blob-dir', blobs]]) {
      const ino = (JSON.parse(cli(['stat', ...args, '/one', '--json']).stdout) as { ino: number }).ino;
      const r = cli(['paths', args[0]!, String(ino), ...args.slice(1), '--json']);
      assert.equal(r.status, 0, r.stderr);
      const p = JSON.parse(r.stdout) as { ino: number; type: string; nlink: number; paths: string[] };
      assert.deepEqual({ ino: p.ino, type: p.type, nlink: p.nlink }, { ino, type: 'reg', nlink: 3 });
      assert.deepEqual(p.paths.sort(), ['/a/café', '/a/x\\xfe', '/one'], args[0]);
    }
  });
});

describe('layerscope extract', () => {
  test('restores the root directory\'s mode, owner and mtime', () => {
    const out = join(dir, 'out');
    const r = cli(['extract', image, out]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const st = statSync(out);
    assert.equal((st.mode & 0o7777).toString(8), '1777');
    if (process.getuid?.() === 0) {
      assert.equal(st.uid, 1234);
      assert.equal(st.gid, 5678);
    }
    assert.equal(st.mtimeMs, 1_000_000_000_000);
    assert.equal(statSync(join(out, 'sub')).mode & 0o7777, statSync(join(src, 'sub')).mode & 0o7777);
  });
});
