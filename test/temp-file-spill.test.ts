// tempFileSpill closes its descriptor itself: on close() after a successful build, and at once
// when a store fails (truncated gzip, an abort), not when the garbage collector or the exit does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tempFileSpill } from '../src/lib/fs/sources/node.ts';
import { treeFromTarGz } from '../src/lib/fs/sources/tar.ts';
import { inodesOf } from '../src/lib/fs/tree.ts';
import { BytesSource } from '../src/lib/io/source.ts';
import { tempDir } from './helpers/paths.ts';
import { usrBinBytes } from './helpers/mktree.ts';
import { openFds } from './helpers/fds.ts';

/** descriptors of this process open on a file under `dir` (the spill file is unlinked: "... (deleted)") */
const fdsUnder = (dir: string): number => openFds((l) => l.startsWith(dir)).length;

describe('tempFileSpill closes its file', { skip: process.platform !== 'linux' && 'counts descriptors in /proc/self/fd' }, () => {
  const work = tempDir('ls-spill-fd-');
  const tree = join(work, 'tree');
  mkdirSync(tree);
  const big = usrBinBytes(96 * 1024);
  writeFileSync(join(tree, 'a.bin'), big);
  writeFileSync(join(tree, 'b.bin'), usrBinBytes(64 * 1024, 3));
  execFileSync('tar', ['-C', tree, '-czf', join(work, 't.tar.gz'), 'a.bin', 'b.bin']);
  const gz = new Uint8Array(readFileSync(join(work, 't.tar.gz')));

  it('close() after a build whose content was read', async () => {
    const dir = tempDir('ls-spill-ok-');
    const spill = tempFileSpill(dir);
    const t = await treeFromTarGz(new BytesSource(gz, 't.tar.gz'), { memoryBudget: 0, spill });
    const a = inodesOf(t.root).find((i) => i.content?.size === big.length)!;
    assert.deepEqual(await a.content!.read(0, big.length), big);
    assert.equal(fdsUnder(dir), 1, 'the spill file is open while the tree is in use');
    await spill.close();
    assert.equal(fdsUnder(dir), 0);
    await assert.rejects(a.content!.read(0, 1), /was closed/);
    await spill.close();
  });

  it('a truncated gzip closes it at once', async () => {
    const dir = tempDir('ls-spill-bad-');
    const spill = tempFileSpill(dir);
    // cut inside the first file's content: the failure comes out of the spill's store
    await assert.rejects(treeFromTarGz(new BytesSource(gz.subarray(0, gz.length >> 2), 't.tar.gz'), { memoryBudget: 0, spill }));
    assert.equal(fdsUnder(dir), 0);
    await assert.rejects(spill.store(1, (async function* () { yield new Uint8Array(1); })(), 'x'), /was closed/);
  });

  it('an aborted store closes it at once', async () => {
    const dir = tempDir('ls-spill-abort-');
    const spill = tempFileSpill(dir);
    const ac = new AbortController();
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      yield big.subarray(0, 4096);
      ac.abort();
      ac.signal.throwIfAborted();
    };
    await assert.rejects(spill.store(big.length, chunks(), 'a.bin'), { name: 'AbortError' });
    assert.equal(fdsUnder(dir), 0);
  });
});
