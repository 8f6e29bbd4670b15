import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ASSETS, GOLDEN, assetVersion, assetsWithDump, expectedSha256, lenientAssets, readAsset, summaryDigests } from './helpers/composefs-assets.ts';
import { DumpError, parseDump, parseDumpSync } from '../src/lib/composefs/dump.ts';
import { buildComposefs, chunking, measureComposefs } from '../src/lib/composefs/writer.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { FormatError } from '../src/lib/errors.ts';
import { newDir, type SourceTree } from '../src/lib/fs/tree.ts';
import { bytes } from '../src/lib/fs/types.ts';
import { hex } from '../src/lib/bytes.ts';

/** tests/test-checksums.sh parses these without CFS_PARSE_STRICT (README.txt lists them) */
const LENIENT = lenientAssets();

function sha256hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

const assets = assetsWithDump();

test('all 14 assets with a dump are present', () => {
  assert.equal(assets.length, 14, assets.join(' '));
});

const digests = summaryDigests();
for (const name of assets) {
  test(`mkcomposefs-identical image: ${name}`, { timeout: 120_000 }, async () => {
    const want = expectedSha256(name);
    const v = assetVersion(name);
    const tree = parseDumpSync(readAsset(name), { strict: !LENIENT.has(name) });
    const sink = new MemorySink();
    const res = await buildComposefs(tree, v === undefined ? {} : { minVersion: v, maxVersion: v }, sink);
    const image = sink.bytes();
    const goldenCfs = join(GOLDEN, name.replace(/\.dump(\.gz)?$/, '.cfs'));
    if (existsSync(goldenCfs) && sha256hex(image) !== want) {
      const g = readFileSync(goldenCfs);
      let k = 0;
      while (k < Math.min(g.length, image.length) && g[k] === image[k]) k++;
      assert.fail(`${name}: first difference at byte ${k} (sizes ${image.length} vs ${g.length})`);
    }
    assert.equal(sha256hex(image), want);
    assert.equal(res.size, image.length);
    assert.equal(hex(res.digest), digests.get(name));
    assert.equal(await measureComposefs(tree, v === undefined ? {} : { minVersion: v, maxVersion: v }), image.length);
  });
}

test('a dump streamed in odd-sized pieces gives the same image', async () => {
  const data = readAsset('cs9-x86_64-minimal.dump.gz');
  async function* pieces() {
    for (let o = 0, k = 1; o < data.length; k = (k * 7919) % 65521 + 1) {
      yield data.subarray(o, Math.min(data.length, o + k));
      o += k;
    }
  }
  const sink = new MemorySink();
  await buildComposefs(await parseDump(pieces(), { strict: true }), {}, sink);
  assert.equal(sha256hex(sink.bytes()), expectedSha256('cs9-x86_64-minimal.dump.gz'));
});

test('--min-version/--max-version: a user whiteout bumps the default to version 1', async () => {
  const tree = () => parseDumpSync(readAsset('special.dump'), { strict: true });
  const sha = async (opts: Parameters<typeof buildComposefs>[1]) => {
    const sink = new MemorySink();
    const r = await buildComposefs(tree(), opts, sink);
    return { sha: sha256hex(sink.bytes()), version: r.version, header: new DataView(sink.bytes().buffer).getUint32(12, true) };
  };
  const v0 = expectedSha256('special.dump');
  const v1 = expectedSha256('special_v1.dump');
  // defaults: min 0, max 1 -> bumped to 1 by the whiteout
  assert.deepEqual(await sha({}), { sha: v1, version: 1, header: 1 });
  // only --min-version=0 given: max defaults to 0
  assert.deepEqual(await sha({ minVersion: 0 }), { sha: v0, version: 0, header: 0 });
  assert.deepEqual(await sha({ maxVersion: 0 }), { sha: v0, version: 0, header: 0 });
  // max below min is raised to min
  assert.deepEqual(await sha({ minVersion: 1, maxVersion: 0 }), { sha: v1, version: 1, header: 1 });
  await assert.rejects(buildComposefs(tree(), { maxVersion: 2 }, new MemorySink()), /versions 0 and 1/);
  // without a whiteout the default stays 0
  const plain = parseDumpSync('/ 4096 40755 2 0 0 0 0.0 - - -\n', { strict: true });
  assert.equal((await buildComposefs(plain, {}, new MemorySink())).version, 0);
});

/** §6: mkcomposefs exits 1 with these messages (they are run without CFS_PARSE_STRICT). */
const SHOULD_FAIL: Record<string, string> = {
  'should-fail-big-inline.dump': 'Inline content size 5004 exceeds maximum 5000',
  'should-fail-dir-hardlink.dump': "Directories can't be hardlinked",
  'should-fail-dot-name.dump': 'Invalid . or .. in path',
  'should-fail-dotdot-name.dump': 'Invalid . or .. in path',
  'should-fail-empty-link-name.dump': 'Invalid symlink',
  'should-fail-long-link.dump': 'Invalid symlink',
  'should-fail-empty-name.dump': "Can't add child",
  'should-fail-empty-xattr-key.dump': "Can't set xattr",
  'should-fail-honggfuzz-long-xattr.dump': "Can't set xattr",
  'should-fail-long-xattr-key.dump': 'Too many xattrs',
  'should-fail-long-xattr-value.dump': 'Invalid mode 644',
  'should-fail-no-ftype.dump': 'Invalid mode 0',
  'should-fail-self-hardlink.dump': 'Self-referential hardlink',
  'should-fail-too-big.dump': 'cannot write file: File too large',
};

test('every should-fail asset is listed', () => {
  assert.deepEqual(readdirSync(ASSETS).filter((n) => n.startsWith('should-fail-')).sort(), Object.keys(SHOULD_FAIL).sort());
});

for (const [name, message] of Object.entries(SHOULD_FAIL)) {
  test(`refused with the mkcomposefs message and the line: ${name}`, async () => {
    const data = readAsset(name);
    const lines = new TextDecoder().decode(data).split('\n');
    let err: unknown;
    try {
      await buildComposefs(parseDumpSync(data), {}, new MemorySink());
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof FormatError, `${name}: expected a FormatError, got ${String(err)}`);
    assert.equal(err.structure, 'composefs.dump');
    assert.ok(err.message.includes(message), `${name}: ${err.message}`);
    const m = /line (\d+)/.exec(err.message);
    assert.ok(m, `${name}: no line in "${err.message}"`);
    const line = Number(m[1]);
    assert.ok(line >= 1 && line <= lines.length, `${name}: line ${line}`);
    // the byte offset names the start of that line
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    assert.equal(err.offset, start);
    // the strict parser refuses them too
    await assert.rejects(async () => buildComposefs(parseDumpSync(data, { strict: true }), {}, new MemorySink()), FormatError);
  });
}

test('dump parser: messages and quirks of mkcomposefs', () => {
  const root = '/ 4096 40755 2 0 0 0 0.0 - - -\n';
  const err = (text: string, strict = true): DumpError => {
    try {
      parseDumpSync(text, { strict });
    } catch (e) {
      assert.ok(e instanceof DumpError, String(e));
      return e;
    }
    assert.fail(`accepted: ${JSON.stringify(text)}`);
  };
  assert.equal(err(root.trimEnd()).reason, 'Missing trailing newline');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - - user.a=b\x00\n').reason, 'Invalid embedded NUL character at position 38');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - - user.a=\\q\n').reason, 'Unsupported escape type q');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - - user.a=\\x4\n').reason, 'No hex characters after hex escape');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - - user.a=\\xzz\n').reason, 'Invalid hex characters after hex escape');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - - user.a\n').reason, 'Missing = in xattr');
  assert.equal(err(root + '/a x 100644 1 0 0 0 0.0 - - -\n').reason, 'Invalid integer x');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 7 - - -\n').reason, 'Invalid integer ');
  assert.equal(err(root + '/x/a 0 100644 1 0 0 0 0.0 - - -\n').reason, 'Parent directory missing for /x/a');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - -\n/a/b 0 100644 1 0 0 0 0.0 - - -\n').reason, 'Parent must be a directory for /a/b');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.0 - - -\n').reason, 'Path /a already exist');
  assert.equal(err('/a 0 100644 1 0 0 0 0.0 - - -\n').reason, 'Root node not present');
  assert.equal(err('/ 0 100644 1 0 0 0 0.0 - - -\n').reason, 'Root must be a directory');
  assert.equal(err(root + root).reason, "Can't have multiple roots");
  assert.equal(err(root + '/a 0 100644 1 0 0 5 0.0 - - -\n').reason, 'Non-zero devnum on non-device');
  assert.equal(err(root + '/a 3 100644 1 0 0 0 0.0 - ab -\n').reason, 'Invalid content size 2, must match size 3');
  assert.equal(err(root + '/l 2 120777 1 0 0 0 0.0 abc - -\n').reason, 'Invalid symlink size 3, must match size 2');
  assert.equal(err(root + '/l 3 120777 1 0 0 0 0.0 abc abc -\n').reason, 'Symlink cannot have content');
  assert.equal(err(root + '/h 0 @100644 1 0 0 0 0.0 /nope - -\n').reason, 'No target at /nope for hardlink');
  assert.equal(err(root + '/h 0 @100644 1 0 0 0 0.0 - - -\n').reason, 'No target path for the hardlink');
  assert.equal(err(root + '/a 0 100644 1 0 0 0 0.0 - - - =v\n').reason, "Can't set xattr");
  assert.equal(err(root + `/a 0 100644 1 0 0 0 0.0 - - - user.a=${'v'.repeat(65536)}\n`).reason, 'Too many xattrs');
  assert.equal(err('').reason, 'No files in dump file');
  // line numbers count from 1, the offset is the line's first byte
  const e = err(root + '/a 0 100644 1 0 0 0 0.0 - - -\n/b x 100644 1 0 0 0 0.0 - - -\n');
  assert.equal(e.line, 3);
  assert.equal(e.offset, root.length + 30);
  assert.match(e.message, /^composefs\.dump at byte \d+: line 3: Invalid integer x$/);

  // lenient mode: no final newline, RDEV on non-devices and symlink SIZE are not checked
  const t = parseDumpSync(root + '/a 0 100644 1 0 0 5 0.0 - - -\n/l 99 120777 1 0 0 0 0.0 abc - -', { strict: false });
  assert.equal(t.root.children!.length, 2);
  assert.equal(t.root.children![1]!.inode.size, 3);
  // a bad GID is only an error when UID is 0 (mkcomposefs checks `uid == 0 && err`)
  assert.equal(err(root + '/a 0 100644 1 0 zz 0 0.0 - - -\n').reason, 'Invalid integer zz');
  const g = parseDumpSync(root + '/a 0 100644 1 7 zz 0 0.0 - - -\n', { strict: true });
  assert.equal(g.root.children![0]!.inode.gid, 0);
  // strtoull: '+', '-' (wraps), leading blanks; names and xattr keys stop at \x00
  const q = parseDumpSync(root + '/a\\x00b 0 100644 +3 -1 \t5 0 -1.+2 - - - user.k\\x00x=v\\x00w\n', { strict: true });
  const a = q.root.children![0]!;
  assert.deepEqual([...a.name], [...bytes('a')]);
  assert.equal(a.inode.nlink, 3);
  assert.equal(a.inode.uid, 0xffffffff);
  assert.equal(a.inode.gid, 5);
  assert.equal(a.inode.mtime, -1);
  assert.equal(a.inode.mtimeNsec, 2);
  assert.deepEqual(a.inode.xattrs.map((x) => [Buffer.from(x.name).toString(), hex(x.value)]), [['user.k', '760077']]);
  // a repeated xattr replaces the earlier value
  const r = parseDumpSync(root + '/a 0 100644 1 0 0 0 0.0 - - - user.k=1 user.j=2 user.k=3\n', { strict: true });
  assert.deepEqual(r.root.children![0]!.inode.xattrs.map((x) => Buffer.from(x.name).toString() + '=' + Buffer.from(x.value).toString()).sort(), ['user.j=2', 'user.k=3']);
});

test('hardlinks: resolved after parsing, dirents share the target inode, nlink as written', () => {
  const t = parseDumpSync([
    '/ 4096 40755 2 0 0 0 0.0 - - -',
    '/a 0 @100644 1 0 0 0 0.0 /z - -',
    '/b 0 @100644 1 0 0 0 0.0 /a - -',
    '/z 5 100644 7 0 0 0 0.0 - hello -',
    '',
  ].join('\n'), { strict: true });
  const [a, b, z] = t.root.children!;
  assert.equal(a!.inode, z!.inode);
  assert.equal(b!.inode, z!.inode);
  assert.equal(a!.link, true);
  assert.equal(b!.link, true);
  assert.equal(z!.link, undefined);
  assert.equal(z!.inode.nlink, 7);
  assert.throws(() => parseDumpSync('/ 4096 40755 2 0 0 0 0.0 - - -\n/a 0 @100644 1 0 0 0 0.0 /b - -\n/b 0 @100644 1 0 0 0 0.0 /a - -\n'), /Hardlink loop/);
  assert.throws(() => parseDumpSync('/ 4096 40755 2 0 0 0 0.0 - - -\n/d 4096 40755 2 0 0 0 0.0 - - -\n/a 0 @100644 1 0 0 0 0.0 /d - -\n'), /Hardlink to the directory/);
});

test('chunking: one chunk per file up to 8 TiB, at most 1024 chunks', () => {
  assert.deepEqual(chunking(1), { chunkBits: 12, chunkCount: 1 });
  assert.deepEqual(chunking(4096), { chunkBits: 12, chunkCount: 1 });
  assert.deepEqual(chunking(4097), { chunkBits: 13, chunkCount: 1 });
  assert.deepEqual(chunking(2 ** 43), { chunkBits: 43, chunkCount: 1 });
  assert.deepEqual(chunking(2 ** 43 + 1), { chunkBits: 43, chunkCount: 2 });
  assert.deepEqual(chunking(2 ** 53), { chunkBits: 43, chunkCount: 1024 });
});

test('generic trees: small files inline, larger ones become digest-named backing objects', async () => {
  const { BytesSource } = await import('../src/lib/io/source.ts');
  const { fsverityDigest } = await import('../src/lib/codec/fsverity.ts');
  const root = newDir();
  const small = new Uint8Array(64).fill(7);
  const big = new Uint8Array(10000).map((_, i) => i & 0xff);
  root.children!.push(
    { name: bytes('small'), inode: { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: 64, rdev: 0, xattrs: [], content: new BytesSource(small) } },
    { name: bytes('big'), inode: { type: 'reg', perm: 0o644, uid: 0, gid: 0, mtime: 0, mtimeNsec: 0, size: big.length, rdev: 0, xattrs: [], content: new BytesSource(big) } },
  );
  const tree: SourceTree = { root, notes: [] };
  const sink = new MemorySink();
  await buildComposefs(tree, {}, sink);
  const img = Buffer.from(sink.bytes());
  const d = await fsverityDigest(big);
  const payload = `/${hex(d.subarray(0, 1))}/${hex(d.subarray(1))}`;
  assert.ok(img.includes(Buffer.from(payload)), 'redirect to the digest path');
  assert.ok(img.includes(Buffer.from(d)), 'metacopy digest');
  assert.ok(img.includes(Buffer.from(small)), 'small file inline');
  assert.ok(!img.includes(Buffer.from(big.subarray(0, 64))), 'big file not in the image');
});
