// The inspector worker's plumbing, now in src/lib/app: tasks by token (a new task of a token
// cancels the running one) and URL inputs (Range requests; the whole file from a static host that
// ignores Range, only when allowed), against a real HTTP server.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { Tasks } from '../src/lib/app/tasks.ts';
import { urlSource } from '../src/lib/app/url-source.ts';
import { HttpSource } from '../src/lib/io/http.ts';

const body = new Uint8Array(5000).map((_, i) => i % 251);
let server: Server;
let base = '';
before(async () => {
  server = createServer((req, res) => {
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (req.url === '/ranged.bin' && range) {
      const [a, b] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${body.length}`, 'Content-Length': b - a + 1 });
      res.end(body.subarray(a, b + 1));
    } else if (req.url === '/ranged.bin' || req.url === '/whole.bin') {
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    } else {
      res.writeHead(404, 'Not Found');
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('urlSource: Range when the server has it, the whole file only when allowed, HTTP errors as IoError', async () => {
  const f: typeof fetch = (i, o) => fetch(i, o);
  const ranged = await urlSource(`${base}/ranged.bin`, f, { allowWhole: true, cache: (s) => Object.assign(s, { cachedBy: 'test' }) });
  assert.equal(ranged.whole, false);
  assert.ok(ranged.source instanceof HttpSource);
  assert.equal((ranged.source as unknown as { cachedBy?: string }).cachedBy, 'test');
  assert.deepEqual(await ranged.source.read(4000, 1000), body.subarray(4000));

  await assert.rejects(urlSource(`${base}/whole.bin`, f), { name: 'IoError', message: /ignored the Range header/ });
  const whole = await urlSource(`${base}/whole.bin`, f, { allowWhole: true });
  assert.equal(whole.whole, true);
  assert.equal(whole.source.name, 'whole.bin');
  assert.deepEqual(await whole.source.read(0, body.length), body);

  await assert.rejects(urlSource(`${base}/missing.bin`, f, { allowWhole: true }), { name: 'IoError', message: `${base}/missing.bin: HTTP 404 Not Found` });
});

test('Tasks: a new task of a token cancels the running one; cancel(token) aborts it; other tokens run on', async () => {
  const tasks = new Tasks();
  const waitAbort = (s: AbortSignal) => new Promise<string>((_, rej) => s.addEventListener('abort', () => rej(s.reason ?? new Error('aborted'))));
  const first = tasks.run('search', waitAbort);
  let other!: AbortSignal;
  const otherDone = tasks.run('stats', async (s) => { other = s; await new Promise((r) => setTimeout(r, 10)); return 'stats done'; });
  const second = tasks.run('search', waitAbort);
  await assert.rejects(first);
  tasks.cancel('search');
  await assert.rejects(second, { name: 'AbortError' });
  assert.equal(await otherDone, 'stats done');
  assert.equal(other.aborted, false);
});
