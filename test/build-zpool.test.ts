// The page's side of the EROFS compression pool (src/lib/app/build-zpool.ts PortZFilePool) over ports
// whose far end is the same zFilesServer the page's workers and the CLI's threads run, with every
// message structured-cloned (copied, as across a real worker boundary: the pool transfers nothing,
// see zFilesServer) and delivered after a random delay, in order on each port and direction (as
// postMessage keeps it), so the two ports' replies come back in any order against each other.
// The image must be the one-thread build's, byte for byte; a failing port fails the build and the pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSource } from '../src/cli/build.ts';
import { compressWorkerCount, PortZFilePool, zFilesServer, type ZFilesDone, type ZFilesJob, type ZMore, type ZPort } from '../src/lib/app/build-zpool.ts';
import { buildErofs, type ErofsCompression, type ErofsOptions } from '../src/lib/erofs/writer.ts';
import { resolveCompression } from '../src/lib/erofs/writer-compress.ts';
import { MemorySink } from '../src/lib/erofs/writer-output.ts';
import { tempDir } from './helpers/paths.ts';
import { makeTestTree, prng, randomBytes, textBytes } from './helpers/mktree.ts';

const work = tempDir('ls-build-zpool-');
const src = makeTestTree({ dir: join(work, 'src') });
{
  const rnd = prng(77);
  const d = join(src, 'z');
  mkdirSync(d);
  // more than one message (1 MiB): streamed to one port in pieces
  writeFileSync(join(d, 'big'), Buffer.concat([textBytes(rnd, 900_000), randomBytes(rnd, 200_000), textBytes(rnd, 1_300_000)]));
  for (let i = 0; i < 40; i++) writeFileSync(join(d, `s${i}`), textBytes(rnd, 1 + Math.floor(rnd() * 30_000)));
}
const tree = await loadSource(src);
const OPTS: ErofsOptions = { uuid: '11111111-2222-3333-4444-555555555555', buildTime: 1700000000 };

async function image(opts: ErofsOptions): Promise<Uint8Array> {
  const sink = new MemorySink();
  await buildErofs(tree, { ...OPTS, ...opts }, sink);
  return sink.bytes();
}

/** a message as a worker boundary delivers it: cloned */
function cross<T>(m: T): T {
  return structuredClone(m);
}

interface FakePorts {
  open(i: number): ZPort;
  /** jobs each port received */
  jobs: number[];
  /** make port i fail (as a worker's error event) when it receives its next job */
  failNext(i: number): void;
  closed: number;
}

function fakePorts(seed: number): FakePorts {
  const r = prng(seed);
  /** a delivery line: each message waits a random 0-3 ms after the one before it */
  const line = (): ((f: () => void) => void) => {
    let last: Promise<void> = Promise.resolve();
    return (f) => void (last = last.then(() => new Promise<void>((ok) => setTimeout(() => (f(), ok()), Math.floor(r() * 4)))));
  };
  const fail = new Set<number>();
  const ports: FakePorts = {
    jobs: [],
    closed: 0,
    failNext: (i) => void fail.add(i),
    open(i) {
      ports.jobs[i] = 0;
      let onReply: (m: ZFilesDone) => void = () => {};
      let onFail: (message: string) => void = () => {};
      const toPort = line();
      const toPool = line();
      const serve = zFilesServer((m) => {
        const c = cross(m);
        toPool(() => onReply(c));
      });
      return {
        post(m: ZFilesJob | ZMore) {
          const c = cross(m);
          if (c.kind === 'zfiles') {
            ports.jobs[i]!++;
            if (fail.has(i)) {
              toPool(() => onFail('it stopped'));
              return;
            }
          }
          toPort(() => serve(c));
        },
        listen(reply, failed) {
          onReply = reply;
          onFail = failed;
        },
        close: () => void ports.closed++,
      };
    },
  };
  return ports;
}

const VARIANTS: ErofsCompression[] = [
  { algorithm: 'lz4hc', ztailpacking: true },
  { algorithm: 'lz4', pclusterSize: 16384 },
  { algorithm: 'deflate' },
  { algorithm: 'zstd', pclusterSize: 65536 },
];

test('PortZFilePool, replies out of order over cloned messages: the image is the one-thread build, byte for byte', async () => {
  let seed = 3;
  for (const c of VARIANTS) {
    const ports = fakePorts(seed++);
    const pool = new PortZFilePool(2, (i) => ports.open(i));
    try {
      const one = await image({ compression: c, compressPool: null });
      const many = await image({ compression: c, compressPool: pool });
      assert.ok(Buffer.from(many).equals(Buffer.from(one)), `${JSON.stringify(c)}: image bytes differ`);
      // the jobs were spread over both ports (the one with fewer bytes outstanding gets the next)
      assert.ok(ports.jobs.length === 2 && ports.jobs.every((n) => n > 0), `${JSON.stringify(c)}: jobs per port ${ports.jobs}`);
      // a second build reuses the started ports
      const again = await image({ compression: c, compressPool: pool });
      assert.ok(Buffer.from(again).equals(Buffer.from(one)));
      assert.equal(ports.jobs.length, 2);
    } finally {
      pool.close();
    }
    assert.equal(ports.closed, 2);
  }
});

test('PortZFilePool: a port that fails fails the build with its message, and the pool stays broken', async () => {
  const ports = fakePorts(9);
  const pool = new PortZFilePool(2, (i) => ports.open(i));
  ports.failNext(1);
  await assert.rejects(image({ compression: { algorithm: 'lz4hc' }, compressPool: pool }), /compression worker: it stopped/);
  assert.equal(pool.broken, true);
  await assert.rejects(image({ compression: { algorithm: 'lz4hc' }, compressPool: pool }), /compression worker: it stopped/);
  pool.close();
});

test("PortZFilePool: an error on the compressing side comes back as the job's error", async () => {
  const ports = fakePorts(11);
  const pool = new PortZFilePool(1, (i) => ports.open(i));
  try {
    // a thread refuses dedupe (state across files); the writer never sends it, a broken caller could
    const job = pool.begin(resolveCompression({ algorithm: 'lz4', dedupe: true }), [], new Uint8Array(8), () => {});
    await assert.rejects(job.result, /compression worker: .*dedupe or fragments/);
    assert.equal(pool.broken, false);
  } finally {
    pool.close();
  }
});

test('compression workers per core count: none on one core, one per core up to 4', () => {
  assert.deepEqual([undefined, 1, 2, 3, 4, 8, 64].map(compressWorkerCount), [0, 0, 2, 3, 4, 4, 4]);
});
