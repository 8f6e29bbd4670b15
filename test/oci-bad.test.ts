// Damaged and hostile images: each a typed OciError (a FormatError) with a code saying what is
// wrong, and no file but the layout's own (index.json, oci-layout, manifest.json, blobs/ALG/HEX,
// docker save's HEX.json) is ever asked for, whatever a manifest names.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { folderFiles } from '../src/cli/oci.ts';
import { FormatError } from '../src/lib/errors.ts';
import { loadOci, OciError, type OciErrorCode, type OciFiles } from '../src/lib/oci/index.ts';
import { appendLayer, makeTar, manifestOf, missingTools, newImage, readBlob, rewrite, sh, sha256hex, writeBlob } from './helpers/oci.ts';
import { tempDir } from './helpers/paths.ts';

const skip = missingTools();
/** what may be asked of a layout: its own files, blobs by hex digest, docker save's files named by hex ids */
const LAYOUT_PATH = /^(index\.json|oci-layout|manifest\.json|blobs\/sha(256|512)\/[0-9a-f]+|[0-9a-f]{64}\.json|x\.tar)$/;

/** folderFiles, recording every path asked for */
function watched(dir: string): OciFiles & { asked: string[] } {
  const f = folderFiles(dir);
  const asked: string[] = [];
  return { name: f.name, asked, get: (p) => (asked.push(p), f.get(p)) };
}

async function fails(dir: string, code: OciErrorCode, message: RegExp): Promise<void> {
  const files = watched(dir);
  await assert.rejects(loadOci(files), (e: unknown) => {
    assert.ok(e instanceof OciError && e instanceof FormatError, `not an OciError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
  for (const p of files.asked) assert.match(p, LAYOUT_PATH, `asked for ${p}`);
}

describe('bad OCI input', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-bad-');
  let base = '';
  let n = 0;
  /** a fresh copy of the base image (two layers: gzip, then a plain tar) */
  const copy = (): string => {
    const d = join(work, `c${n++}`);
    sh(`cp -r ${base} ${d}`);
    return d;
  };
  before(() => {
    base = join(work, 'base');
    newImage(base, 't');
    appendLayer(base, 't', makeTar([{ name: 'etc', type: 'dir' }, { name: 'etc/a', text: 'hello' }]), 'gzip');
    appendLayer(base, 't', makeTar([{ name: 'etc/b', text: 'second layer' }]), 'none');
  });
  after(() => void (work && rmSync(work, { recursive: true, force: true })));

  test('the base image opens (so each failure below is the damage done to it)', async () => {
    const o = await loadOci(folderFiles(base));
    assert.equal(o.layers.length, 2);
  });

  test('a config blob whose bytes do not match its digest', async () => {
    const d = copy();
    const { manifest } = manifestOf(d, 't');
    const p = join(d, 'blobs/sha256', manifest.config.digest.slice(7));
    writeFileSync(p, readFileSync(p).toString().replace('"amd64"', '"arm64"'));
    await fails(d, 'digest-mismatch', /oci\.config.*hash to sha256:[0-9a-f]{64}, not sha256:/);
  });

  test('a layer blob with one byte changed', async () => {
    const d = copy();
    const { manifest } = manifestOf(d, 't');
    const p = join(d, 'blobs/sha256', manifest.layers[1].digest.slice(7));
    const b = readFileSync(p);
    b[512] ^= 1; // the content of etc/b
    writeFileSync(p, b);
    await fails(d, 'digest-mismatch', /layer 1 .*blob: its bytes hash to/);
  });

  test('a diff_id that is not the uncompressed tar\'s digest', async () => {
    const d = copy();
    rewrite(d, 't', (_m, c) => { c.rootfs.diff_ids[0] = `sha256:${sha256hex(Buffer.from('another tar'))}`; });
    await fails(d, 'diff-id-mismatch', /layer 0 .*the uncompressed tar hashes to sha256:[0-9a-f]{64}, the config's rootfs\.diff_ids says/);
  });

  test('a missing blob', async () => {
    const d = copy();
    unlinkSync(join(d, 'blobs/sha256', manifestOf(d, 't').manifest.layers[0].digest.slice(7)));
    await fails(d, 'missing-blob', /layer 0 blob blobs\/sha256\/[0-9a-f]{64} is not in the image/);
  });

  test('a blob of another size than its descriptor', async () => {
    const d = copy();
    rewrite(d, 't', (m) => { m.layers[0].size += 1; });
    await fails(d, 'size-mismatch', /its descriptor says/);
  });

  for (const [what, digest] of [
    ['a digest climbing out of blobs/', 'sha256:../../../../etc/passwd'],
    ['a digest with a slash', 'sha256/../../index.json'],
    ['an unknown algorithm', 'md5:d41d8cd98f00b204e9800998ecf8427e'],
    ['a digest of the wrong length', 'sha256:abcd'],
  ] as const) {
    test(`a manifest naming a layer by ${what}`, async () => {
      const d = copy();
      rewrite(d, 't', (m) => { m.layers[0].digest = digest; });
      await fails(d, 'bad-digest', /digest/);
    });
  }

  test('an index naming its manifest by a path outside blobs/', async () => {
    const d = copy();
    const { index } = manifestOf(d, 't');
    index.manifests[0].digest = 'sha256:../../../../../../etc/passwd';
    writeFileSync(join(d, 'index.json'), JSON.stringify(index));
    await fails(d, 'bad-digest', /would name a path outside blobs/);
  });

  test('docker save manifest.json naming a layer outside the archive', async () => {
    for (const bad of ['../outside.tar', '/etc/passwd', 'a/../../b.tar']) {
      const d = copy();
      const { manifest } = manifestOf(d, 't');
      unlinkSync(join(d, 'index.json'));
      writeFileSync(join(d, 'manifest.json'), JSON.stringify([{ Config: `${manifest.config.digest.slice(7)}.json`, RepoTags: ['t:latest'], Layers: [bad, 'x.tar'] }]));
      writeFileSync(join(d, `${manifest.config.digest.slice(7)}.json`), readBlob(d, manifest.config.digest));
      await fails(d, 'bad-path', /is not a plain relative path inside the image/);
    }
  });

  test('an index of 10^6 entries: refused from its count, before any entry is looked at', async () => {
    const d = copy();
    writeFileSync(join(d, 'index.json'), `{"schemaVersion":2,"manifests":[${Array(1_000_000).fill('{}').join(',')}]}`);
    await fails(d, 'too-large', /1000000 manifests listed: more than the 4096/);
  });

  test('an index.json larger than any real one: refused unread', async () => {
    const d = copy();
    writeFileSync(join(d, 'index.json'), Buffer.alloc(5 << 20, 0x20));
    await fails(d, 'too-large', /more than the 4194304/);
  });

  test('a manifest of 5000 layers', async () => {
    const d = copy();
    rewrite(d, 't', (m, c) => {
      m.layers = Array(5000).fill(m.layers[0]);
      c.rootfs.diff_ids = Array(5000).fill(c.rootfs.diff_ids[0]);
    });
    await fails(d, 'too-large', /layers|diff_ids/);
  });

  for (const [what, name] of [['a "../" name', '../escape'], ['an absolute name', '/etc/shadow'], ['a ".." inside the path', 'etc/../../x']] as const) {
    test(`a layer with ${what}`, async () => {
      const d = copy();
      appendLayer(d, 't', makeTar([{ name, text: 'evil' }]), 'gzip');
      await fails(d, 'unsafe-name', /layer 2 .*(absolute|"\.\.")/);
    });
  }

  test('a layer with megabytes of zeros after its tar (a decompression bomb): stopped, not decompressed to the end', async () => {
    const d = copy();
    // 64 MiB of zeros behind a one-file tar: a few KiB of zstd
    appendLayer(d, 't', Buffer.concat([makeTar([{ name: 'f', text: 'x' }]), Buffer.alloc(64 << 20)]), 'zstd');
    const blob = manifestOf(d, 't').manifest.layers[2];
    assert.ok(blob.size < 64 << 10, `${blob.size} bytes`);
    await fails(d, 'too-large', /layer 2 .*more than 1048576 bytes after the tar's end-of-archive blocks/);
  });

  test('config fields of the wrong JSON type: a bad-json error, never a crash in a view', async () => {
    const cases: [string, (c: any) => void][] = [
      ['history step null', (c) => { c.history = [null]; }],
      ['history created_by a number', (c) => { c.history = [{ created_by: 7 }]; }],
      ['history empty_layer a string', (c) => { c.history = [{ empty_layer: 'yes' }]; }],
      ['Env a string', (c) => { c.config = { Env: 'A=1' }; }],
      ['Cmd a list of numbers', (c) => { c.config = { Cmd: [1, 2] }; }],
      ['Labels of numbers', (c) => { c.config = { Labels: { a: 1 } }; }],
      ['config a list', (c) => { c.config = []; }],
      ['created a number', (c) => { c.created = 5; }],
      ['diff_ids not a list', (c) => { c.rootfs = { diff_ids: 'x' }; }],
    ];
    for (const [what, change] of cases) {
      const d = copy();
      rewrite(d, 't', (_m, c) => change(c));
      await assert.rejects(loadOci(folderFiles(d)), (e: unknown) => e instanceof OciError && e.code === 'bad-json' && /image config/.test(e.message), what);
    }
  });

  test('a hardlink to a file no layer holds', async () => {
    const d = copy();
    appendLayer(d, 't', makeTar([{ name: 'lnk', type: 'hardlink', linkname: 'nowhere' }]), 'gzip');
    await assert.rejects(loadOci(folderFiles(d)), (e: unknown) => e instanceof FormatError && /no file of this layer or the layers below/.test(e.message));
  });

  test('a layer whose media type says gzip holding a zstd stream', async () => {
    const d = copy();
    const z = sh(`printf '' | zstd -q -c | base64 -w0`);
    const b = writeBlob(d, Buffer.from(z, 'base64'));
    rewrite(d, 't', (m) => { m.layers[0] = { ...m.layers[0], ...b }; });
    await fails(d, 'bad-json', /says gzip, the bytes are zstd/);
  });
});
