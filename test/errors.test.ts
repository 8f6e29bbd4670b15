// Errors thrown in a worker thread come back to the caller as the same typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { FormatError, fromPlainError, IoError, isTypedError, NotFoundError, toPlainError, UnsupportedError } from '../src/lib/errors.ts';

/** through a real thread boundary: postMessage's structured clone, which drops an Error's class */
async function viaThread<T>(value: T): Promise<T> {
  const w = new Worker('require("node:worker_threads").parentPort.once("message", (m) => require("node:worker_threads").parentPort.postMessage(m))', { eval: true });
  try {
    const back = new Promise<T>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    w.postMessage(value);
    return await back;
  } finally {
    await w.terminate();
  }
}

test('typed errors keep their class and fields across a thread', async () => {
  const cases: Error[] = [
    new FormatError('erofs.inode', 4096, 'nid 128: bad layout 9'),
    new IoError('image.erofs', 'short read at 77'),
    new NotFoundError('inode 5'),
    new UnsupportedError('erofs compression', 'lzma pclusters are not supported'),
  ];
  for (const e of cases) {
    const raw = await viaThread(e);
    assert.ok(!isTypedError(raw), 'a bare postMessage loses the class (why toPlainError exists)');
    const back = fromPlainError(await viaThread(toPlainError(e)));
    assert.equal(back.constructor, e.constructor);
    assert.equal(back.message, e.message);
    assert.ok(isTypedError(back));
    for (const k of ['structure', 'offset', 'detail', 'source', 'what', 'feature']) {
      assert.equal((back as unknown as Record<string, unknown>)[k], (e as unknown as Record<string, unknown>)[k], k);
    }
  }
});

test('other errors keep their message, errno code and stack; thrown non-errors become messages', async () => {
  const e = Object.assign(new Error('EACCES: permission denied, open \'/x\''), { code: 'EACCES' });
  const back = fromPlainError(await viaThread(toPlainError(e))) as Error & { code?: string };
  assert.equal(back.message, e.message);
  assert.equal(back.code, 'EACCES');
  assert.equal(back.stack, e.stack);
  assert.ok(!isTypedError(back));
  assert.equal(fromPlainError(toPlainError('plain string')).message, 'plain string');
});
