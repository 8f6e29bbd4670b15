// The one name rendering and the one error wire format of the application layer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childText, componentText, nameOf, nameText, pathText } from '../src/lib/app/names.ts';
import { fromWire, toWire } from '../src/lib/app/wire.ts';
import { FormatError, IoError, NotFoundError, UnsupportedError } from '../src/lib/errors.ts';

const b = (...x: number[]): Uint8Array => new Uint8Array(x);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('names: valid UTF-8 as is, invalid bytes and control characters as \\xNN, raw hex kept when not exact', () => {
  assert.deepEqual(nameOf(enc('café')), { text: 'café' });
  assert.deepEqual(nameOf(enc('a\\b')), { text: 'a\\b' });
  assert.deepEqual(nameOf(b(0x63, 0x61, 0x66, 0xe9)), { text: 'caf\\xe9', hex: '636166e9' });
  // a valid sequence beside an invalid one stays readable; a truncated sequence is escaped byte by byte
  assert.equal(nameText(new Uint8Array([...enc('é'), 0xff, 0xe2, 0x82])), 'é\\xff\\xe2\\x82');
  // control characters never reach a terminal
  assert.deepEqual(nameOf(enc('a\nb\x1b[2J')), { text: 'a\\x0ab\\x1b[2J', hex: '610a621b5b324a' });
  assert.equal(nameText(b(0x7f)), '\\x7f');
  assert.equal(pathText([]), '/');
  assert.equal(pathText([enc('usr'), b(0xff)]), '/usr/\\xff');
  // in a path, a damaged image's name holding "/" stays one component; NUL is a control character
  assert.equal(componentText(enc('s/../Z')), 's\\x2f..\\x2fZ');
  assert.equal(pathText([enc('d'), enc('s/../Z'), b(0x6e, 0, 0xe9)]), '/d/s\\x2f..\\x2fZ/n\\x00\\xe9');
  assert.equal(childText('/', enc('a/b')), '/a\\x2fb');
  assert.equal(childText('/d', enc('é')), '/d/é');
  // a symlink target is not a component: its "/" stays
  assert.equal(nameText(enc('../a/b')), '../a/b');
});

test('wire errors: typed errors cross as plain data and come back typed', () => {
  const cases = [new FormatError('erofs.inode', 4096, 'bad i_format'), new IoError('x.blob', 'short read'), new NotFoundError('/etc/x'), new UnsupportedError('zstd', 'dictionary')];
  for (const e of cases) {
    const w = structuredClone(toWire(e));
    assert.equal(w.name, e.name);
    assert.equal(w.message, e.message);
    const back = fromWire(w);
    assert.equal(back.constructor, e.constructor);
    assert.deepEqual({ ...back }, { ...e });
  }
  assert.deepEqual(toWire(new FormatError('s', 12, 'd')), { name: 'FormatError', message: 's at byte 12: d', structure: 's', offset: 12, detail: 'd' });
  assert.deepEqual(toWire(new DOMException('cancelled', 'AbortError')), { name: 'AbortError', message: 'cancelled' });
  const plain = { name: 'Error', message: 'image 3 is not open' };
  assert.equal(toWire(plain), plain);
  const bug = fromWire(toWire(new TypeError('x is undefined')));
  assert.equal(bug.name, 'TypeError');
  assert.equal(bug.message, 'x is undefined');
});
