// The Nydus fixtures' own expectations: tests/texture/repeatable/X.result ends with the md5 of every
// regular file of image X ("md5  /path" lines, as nydus' smoke tests print them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './paths.ts';

export const NYDUS = join(FIXTURES, 'nydus');

/** path -> md5 hex, from the X.result beside the bootstrap `boot` (a path under fixtures/nydus) */
export function resultMd5s(boot: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(NYDUS, `${boot}.result`), 'utf8').split('\n')) {
    const f = /^([0-9a-f]{32}) {2}(\/.*)$/.exec(line);
    if (f) m.set(f[2]!, f[1]!);
  }
  return m;
}

/** the md5 X.result gives for `path` (throws when it lists none: the test would compare against nothing) */
export function resultMd5(boot: string, path: string): string {
  const md5 = resultMd5s(boot).get(path);
  if (!md5) throw new Error(`${boot}.result lists no md5 for ${path}`);
  return md5;
}
