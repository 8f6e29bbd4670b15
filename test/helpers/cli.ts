// The layerscope CLI as a child process (bin/layerscope.mjs), for tests that check its exit status and output.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');

export function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
