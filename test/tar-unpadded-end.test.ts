// A layer tar as umoci 0.4.7 `insert` writes it: it ends right after the last file's content, with
// no padding to 512 bytes and no end-of-archive blocks (GNU tar: "Unexpected EOF"; umoci unpack
// takes it). One rule (tar/reader.ts unpaddedEnd) reads it everywhere: the tar reader (a bare
// `ls layer.tar`), the OCI loader, the ZRAN builder (--oci-ref); a tar cut anywhere else is still
// refused. The layer is a real one made by umoci here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { folderFiles } from '../src/cli/oci.ts';
import { FormatError } from '../src/lib/errors.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { loadOci } from '../src/lib/oci/index.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { openRafs } from '../src/lib/rafs/index.ts';
import { buildZranRafs } from '../src/lib/rafs/builder/zran.ts';
import { chunkInput, readTar, sourceInput, type TarInput } from '../src/lib/tar/reader.ts';
import { compareSnapshots, snapshotDisk, snapshotFs } from './helpers/treecompare.ts';
import { manifestOf, missingTools, run, unpackRootfs } from './helpers/oci.ts';
import { tempDir } from './helpers/paths.ts';
import { cli } from './helpers/cli.ts';

const skip = missingTools();
const CONTENT = 'hello umoci 14';

async function readAll(input: TarInput): Promise<{ paths: string[]; contents: string[]; unpadded: number[] }> {
  const paths: string[] = [];
  const contents: string[] = [];
  const unpadded: number[] = [];
  for await (const rec of readTar(input, { onUnpaddedEnd: (at) => unpadded.push(at) })) {
    paths.push(Buffer.from(rec.entry.path).toString());
    const parts: Uint8Array[] = [];
    for await (const c of rec.content()) parts.push(c);
    contents.push(Buffer.concat(parts).toString());
  }
  return { paths, contents, unpadded };
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

describe('umoci 0.4.7 insert layer (no padding, no end blocks)', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-umoci-tail-');
  let layout = '';
  let gz: Buffer;
  let tar: Buffer;
  before(() => {
    layout = join(work, 'img');
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', `${layout}:t`]);
    writeFileSync(join(work, 'f14'), CONTENT);
    run('umoci', ['insert', '--image', `${layout}:t`, join(work, 'f14'), '/f14']);
    const m = manifestOf(layout, 't').manifest;
    gz = readFileSync(join(layout, 'blobs/sha256', m.layers.at(-1).digest.slice(7)));
    tar = gunzipSync(gz);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('the layer really is unterminated, and GNU tar refuses it', () => {
    assert.equal(tar.length, 512 + CONTENT.length);
    const r = spawnSync('tar', ['-t', '-f', '-'], { input: tar, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Unexpected EOF/);
  });

  test('the tar reader takes it, random-access and streamed, and says so', async () => {
    for (const input of [sourceInput(new BytesSource(tar, 'layer.tar')), chunkInput(once(tar), 'layer.tar')]) {
      assert.deepEqual(await readAll(input), { paths: ['f14'], contents: [CONTENT], unpadded: [tar.length] });
    }
  });

  test('layerscope ls of the bare layer tar lists the file; of the tar cut a byte short, says truncated', () => {
    const path = join(work, 'layer.tar');
    writeFileSync(path, tar);
    const ok = cli(['ls', path]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), 'f14');
    writeFileSync(path, tar.subarray(0, tar.length - 1));
    const bad = cli(['ls', path]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /truncated/);
  });

  test('cut anywhere else, it is still refused', async () => {
    const cuts = [
      tar.subarray(0, tar.length - 1), // content short of a byte
      tar.subarray(0, 300), // inside the header
      Buffer.concat([tar, Buffer.alloc(10)]), // padding partly there
    ];
    for (const cut of cuts) {
      for (const input of [sourceInput(new BytesSource(cut, 'cut.tar')), chunkInput(once(cut), 'cut.tar')]) {
        await assert.rejects(readAll(input), (e: unknown) => e instanceof FormatError && /truncated/.test((e as Error).message), `${cut.length} bytes`);
      }
    }
    // with its padding and no end blocks: complete, nothing to say
    assert.deepEqual((await readAll(sourceInput(new BytesSource(Buffer.concat([tar, Buffer.alloc(498)]), 'padded.tar')))).unpadded, []);
  });

  test('the OCI loader reads the image as umoci unpack does, with a note', async () => {
    const ref = snapshotDisk(unpackRootfs(layout, 't', join(work, 'ref')));
    const o = await loadOci(folderFiles(layout));
    assert.deepEqual(compareSnapshots(ref, await snapshotFs(o.fs)), []);
    assert.ok(o.layers.at(-1)!.tree.notes.some((n) => n.includes('no padding or end-of-archive')));
  });

  async function zran() {
    const boot = new MemorySink();
    const meta = new MemorySink();
    const r = await buildZranRafs(new BytesSource(gz, 'layer.tar.gz'), {}, { bootstrap: boot, meta });
    return { r, boot: boot.bytes(), meta: meta.bytes() };
  }

  test('the ZRAN builder (--oci-ref) builds it: one chunk, the file content at tar offset 512', async () => {
    const { r } = await zran();
    assert.equal(r.chunks, 1);
    assert.equal(r.tarSize, tar.length);
    assert.deepEqual(r.reads.map((x) => [x.tarOffset, x.size]), [[512, CONTENT.length]]);
  });

  // Go's gzip (umoci) ends the data's deflate block exactly at the tar's end and closes the stream
  // with an empty final block: the context's input stops after that block's end code, as zlib
  // stops there, and codec/inflate.ts inflateRaw with stopAtMax, its output full, still reads the
  // next block header (past the context's input: "stream ends in the middle of a block"). zlib
  // returns with the output full. The fix is in the codec (not this engineer's file): stop before
  // a block header when stopAtMax and the output is full; checked on a patched copy, it reads.
  test('the ZRAN-built image reads the file back through the gzip layer', async () => {
    const { r, boot, meta } = await zran();
    const fs = await openRafs(new BytesSource(boot, 'image.boot'), { blobs: [new BytesSource(gz, 'layer.tar.gz'), new BytesSource(meta, r.metaBlobId)] });
    const a = await fs.lookup(fs.rootIno, Buffer.from('f14'));
    assert.ok(a);
    assert.equal(Buffer.from(await fs.read(a.ino, 0, 100)).toString(), CONTENT);
  });
});
