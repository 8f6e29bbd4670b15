// The 500,000-entry composefs image of e2e/scale.spec.ts and `npm run bench -- page`: built by our
// CLI from a generated dump and cached in the temp dir between runs (building it takes about 10 s).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SCALE_ENTRIES = 500_000;
/** the one big file: a size sort puts it first */
export const BIGGEST = 'f250000';
const CACHE = join(tmpdir(), 'layerscope-e2e-cache');
const IMAGE = join(CACHE, 'wide-500k-v1.cfs');

export const scaleName = (i: number): string => `f${String(i).padStart(6, '0')}`;

/** composefs-dump(5) text: /many holds SCALE_ENTRIES files with inline content of 0..60 bytes, one of 3000 */
function writeDump(path: string): void {
  const T = '1600000000.0';
  const alphabet = 'abcdefghij'.repeat(300);
  const lines = [`/ 4096 40755 4 0 0 0 ${T} - - -`, `/many 4096 40755 2 0 0 0 ${T} - - -`];
  for (let i = 0; i < SCALE_ENTRIES; i++) {
    const n = scaleName(i) === BIGGEST ? 3000 : (i * 7919) % 61;
    lines.push(`/many/${scaleName(i)} ${n} 100644 1 0 0 0 ${T} - ${n ? alphabet.slice(0, n) : '-'} -`);
  }
  lines.push(`/other 4096 40755 2 0 0 0 ${T} - - -`, `/other/needle-file.txt 9 100644 1 0 0 0 ${T} - found\\x20me\\n -`);
  writeFileSync(path, lines.join('\n') + '\n');
}

/** The image's path, built with `cli` (bin/layerscope.mjs) when not cached yet. */
export function scaleImage(cli: string): string {
  if (existsSync(IMAGE)) return IMAGE;
  mkdirSync(CACHE, { recursive: true });
  const dump = `${IMAGE}.${process.pid}.dump`;
  const tmp = `${IMAGE}.${process.pid}.tmp`;
  writeDump(dump);
  try {
    execFileSync(process.execPath, [cli, 'build', '--format', 'composefs', dump, tmp], { stdio: 'pipe' });
    renameSync(tmp, IMAGE);
  } finally {
    rmSync(dump, { force: true });
    rmSync(tmp, { force: true });
  }
  return IMAGE;
}
