// `layerscope oci …` and the generic commands on an image archive, run as a user runs them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { appendLayer, makeTar, manifestOf, missingTools, newImage, rewrite, sh } from './helpers/oci.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
const skip = missingTools();

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('layerscope oci', { skip: skip ?? false }, () => {
  const work = skip ? '' : tempDir('ls-oci-cli-');
  const img = join(work, 'img');
  const archive = join(work, 'img.tar');
  before(() => {
    newImage(img, 't');
    appendLayer(img, 't', makeTar([{ name: 'f', size: 1000 }, { name: 'g', text: 'gee\n' }]), 'gzip', 'RUN write f g');
    appendLayer(img, 't', makeTar([{ name: 'f', size: 2500 }]), 'zstd', 'RUN overwrite f');
    appendLayer(img, 't', makeTar([{ name: '.wh.f', size: 0 }]), 'none', 'RUN rm f');
    rewrite(img, 't', (_m, c) => {
      c.config = { ...c.config, Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['A=1'], WorkingDir: '/srv', User: '1000', Labels: { team: 'x' } };
      c.history.splice(1, 0, { created: '2024-01-01T00:00:00Z', created_by: 'ENV A=1', empty_layer: true });
    });
    sh(`tar -C ${img} -cf ${archive} .`);
  });
  after(() => void (work && rmSync(work, { recursive: true, force: true })));

  test('config and history (empty_layer steps carry no layer)', () => {
    const c = cli(['oci', 'config', img, '--json']);
    assert.equal(c.status, 0, c.stderr);
    const cfg = JSON.parse(c.stdout);
    assert.deepEqual([cfg.entrypoint, cfg.cmd, cfg.env, cfg.workingDir, cfg.user, cfg.labels], [['/bin/app'], ['--serve'], ['A=1'], '/srv', '1000', { team: 'x' }]);
    const h = JSON.parse(cli(['oci', 'history', archive, '--json']).stdout);
    assert.deepEqual(h.map((x: { createdBy: string; layer: number | null }) => [x.createdBy, x.layer]), [
      ['RUN write f g', 0], ['ENV A=1', null], ['RUN overwrite f', 1], ['RUN rm f', 2],
    ]);
  });

  test('layers: sizes, digests, dive efficiency', () => {
    const r = cli(['oci', 'layers', archive, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const { manifest } = manifestOf(img, 't');
    assert.deepEqual(j.layers.map((l: { digest: string }) => l.digest), manifest.layers.map((l: { digest: string }) => l.digest));
    assert.deepEqual(j.layers.map((l: { size: number }) => l.size), manifest.layers.map((l: { size: number }) => l.size));
    assert.deepEqual(j.layers.map((l: { compression: string }) => l.compression), ['gzip', 'zstd', 'none']);
    // /f: 1000 + 2500 + 0, min 0; /g: 4 → (0 + 4) / (3500 + 4); wasted 3500
    assert.equal(j.efficiency.score, 4 / 3504);
    assert.equal(j.efficiency.wastedBytes, 3500);
    const text = cli(['oci', 'layers', img]).stdout;
    assert.match(text, /wasted bytes: 3500/);
  });

  test('ls: the merged tree, and one layer\'s changes', () => {
    assert.deepEqual(cli(['oci', 'ls', img]).stdout.trim().split('\n'), ['/g']);
    assert.match(cli(['oci', 'ls', img, '--layer', '2']).stdout, /^- reg +2500 \/f$/m);
    assert.equal(cli(['oci', 'ls', img, '--layer', '9']).status, 1);
  });

  test('ls --csv / --json: the file list with the layer each file came from, --sort size largest first', () => {
    const more = join(work, 'more');
    sh(`cp -r ${img} ${more}`);
    appendLayer(more, 't', makeTar([{ name: 'big', size: 5000 }, { name: 'a,"b"', text: 'quoted' }]), 'gzip');
    const csv = cli(['oci', 'ls', more, '--csv', '--sort', 'size']);
    assert.equal(csv.status, 0, csv.stderr);
    assert.equal(csv.stdout, [
      'path,type,size,mode,uid,gid,mtime,layer',
      '/big,reg,5000,0644,0,0,1700000000,3',
      '"/a,""b""",reg,6,0644,0,0,1700000000,3',
      '/g,reg,4,0644,0,0,1700000000,0',
      '',
    ].join('\r\n'));
    const rows = JSON.parse(cli(['oci', 'ls', more, '--json']).stdout);
    assert.deepEqual(rows.map((r: { path: string; layer: number }) => [r.path, r.layer]), [['/g', 0], ['/big', 3], ['/a,"b"', 3]]);
    assert.equal(cli(['oci', 'ls', more, '--sort', 'colour']).status, 1);
  });

  test('docker save | gzip: the compressed archive is unpacked once (layers to a temp file)', () => {
    sh(`gzip -c ${archive} > ${archive}.gz`);
    const r = cli(['oci', 'ls', `${archive}.gz`, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).map((x: { path: string }) => x.path), ['/g']);
    sh(`zstd -q -c ${archive} > ${archive}.zst`);
    assert.equal(cli(['oci', 'ls', `${archive}.zst`]).status, 6);
  });

  test('the generic ls and cat take the image archive (its merged tree)', () => {
    const ls = cli(['ls', archive, '/']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.deepEqual(ls.stdout.trim().split('\n'), ['g']);
    assert.equal(cli(['cat', archive, '/g']).stdout, 'gee\n');
  });

  test('the generic ls, cat, extract and stats take a layout FOLDER (its merged tree), a plain folder stays a folder', () => {
    const ls = cli(['ls', img, '/']);
    assert.equal(ls.status, 0, ls.stderr);
    // the merged tree: /f was written, overwritten and removed, /g stays
    assert.deepEqual(ls.stdout.trim().split('\n'), ['g']);
    assert.equal(cli(['cat', img, '/g']).stdout, 'gee\n');
    const out = join(work, 'extracted');
    const x = cli(['extract', img, out]);
    assert.equal(x.status, 0, x.stderr);
    assert.equal(readFileSync(join(out, 'g'), 'utf8'), 'gee\n');
    assert.deepEqual(sh(`ls -A ${out}`).trim().split('\n'), ['g']);
    const st = cli(['stats', img, '--json']);
    assert.equal(st.status, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).fileBytes, 4);
    // a folder holding index.json but no oci-layout is no layout: its own files are listed
    const plain = join(work, 'plain');
    sh(`mkdir -p ${plain}/blobs && printf '{}' > ${plain}/index.json`);
    assert.deepEqual(cli(['ls', plain, '/']).stdout.trim().split('\n'), ['blobs', 'index.json']);
  });

  test('diff: two images, file by file', () => {
    const other = join(work, 'other');
    sh(`cp -r ${img} ${other}`);
    appendLayer(other, 't', makeTar([{ name: 'g', text: 'changed\n' }, { name: 'h', text: 'new\n' }]), 'gzip');
    const r = cli(['oci', 'diff', img, other]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stdout, /^~ \/g/m);
    assert.match(r.stdout, /^\+ \/h$/m);
    assert.match(r.stdout, /1 added, 0 removed, 1 changed/);
  });

  test('diff --layers A,B: one image stacked up to two of its layers', () => {
    const r = cli(['oci', 'diff', img, '--layers', '0,2']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stdout, /^- \/f$/m);
    assert.match(r.stdout, /0 added, 1 removed, 0 changed, 2 unchanged/);
    const same = cli(['oci', 'diff', img, '--layers', '1,1']);
    assert.equal(same.status, 0, same.stdout);
    assert.equal(cli(['oci', 'diff', img, '--layers', '0,7']).status, 1);
  });

  test('a damaged image: exit status 3 and the reason', () => {
    const bad = join(work, 'bad');
    sh(`cp -r ${img} ${bad}`);
    const { manifest } = manifestOf(bad, 't');
    const p = join(bad, 'blobs/sha256', manifest.layers[2].digest.slice(7));
    const b = readFileSync(p);
    b[600] ^= 1;
    writeFileSync(p, b);
    const r = cli(['oci', 'layers', bad]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /FormatError: oci\.blob at byte -1: layer 2 .*hash to sha256:/);
  });
});
