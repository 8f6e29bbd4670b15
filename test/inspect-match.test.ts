import test from 'node:test';
import assert from 'node:assert/strict';
import { compileMatcher, globToRegExpSource } from '../src/lib/inspect/match.ts';
import { bucketOf, dedupRatio, SizeHistogram } from '../src/lib/inspect/histogram.ts';
import { cliCommand, shellQuote } from '../src/lib/inspect/command.ts';

test('substring queries match the name, smart case', () => {
  const m = compileMatcher('conf');
  assert.equal(m.kind, 'substring');
  assert.ok(m.test('/etc/app/config.toml'));
  assert.ok(m.test('/etc/CONFIG'));
  assert.ok(!m.test('/conf.d/x')); // only the last component
  const upper = compileMatcher('Conf');
  assert.ok(!upper.test('/etc/config'));
  assert.ok(upper.test('/etc/Config'));
});

test('globs: * stays in a component, ** crosses, classes, path globs at any depth', () => {
  assert.ok(compileMatcher('*.txt').test('/a/b/hello.txt'));
  assert.ok(!compileMatcher('*.txt').test('/a/b/hello.txt.gz'));
  assert.ok(compileMatcher('f?[0-9]').test('/x/fa7'));
  assert.ok(!compileMatcher('f?[!0-9]').test('/x/fa7'));
  assert.ok(compileMatcher('usr/*/demo').test('/usr/share/demo'));
  assert.ok(!compileMatcher('usr/*/demo').test('/usr/share/doc/demo'));
  assert.ok(compileMatcher('usr/**/demo').test('/usr/share/doc/demo'));
  assert.ok(compileMatcher('share/doc/*').test('/usr/share/doc/demo'));
  assert.ok(compileMatcher('/etc/*').test('/etc/os-release'));
  assert.ok(!compileMatcher('/etc/*').test('/x/etc/os-release'));
  assert.equal(globToRegExpSource('a.b'), '^a\\.b$');
  assert.equal(new RegExp(globToRegExpSource('[a-')).test('[a-'), true); // an unclosed class is literal
});

test('histogram buckets are powers of two with counts and bytes', () => {
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(1), 1);
  assert.equal(bucketOf(1023), 10);
  assert.equal(bucketOf(1024), 11);
  const h = new SizeHistogram();
  for (const s of [0, 5, 6, 1024, 1500, 1 << 20]) h.add(s);
  h.add(7, 3);
  const b = h.buckets();
  assert.equal(b[0]!.lo, 0);
  assert.equal(b[0]!.count, 1);
  const four = b.find((x) => x.lo === 4)!;
  assert.equal(four.count, 5);
  assert.equal(four.bytes, 5 + 6 + 21);
  assert.equal(b[b.length - 1]!.lo, 1 << 20);
  assert.equal(h.total, 9);
  assert.equal(b.reduce((s, x) => s + x.count, 0), 9);
  assert.equal(new SizeHistogram().buckets().length, 0);
  assert.equal(dedupRatio(300, 100), 3);
  assert.equal(dedupRatio(0, 0), 1);
});

test('CLI command lines quote what a shell would split', () => {
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(cliCommand('stat', { image: 'img.erofs', path: '/etc/os-release' }), 'layerscope stat img.erofs /etc/os-release --json');
  assert.equal(cliCommand('files', { image: 'boot', blobs: ['b1'], path: '/x y' }), "layerscope ls boot --blob b1 '/x y' -l --json");
  assert.equal(cliCommand('inspect', { image: 'i', blobs: ['d'], blobFlag: '--device' }), 'layerscope inspect i --device d --json');
  assert.equal(cliCommand('extract', { image: 'i', path: '/usr' }), 'layerscope extract i out --path /usr');
});
