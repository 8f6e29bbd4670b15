import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
/** ../shared beside the checkout (CI clones main with shared/ beside it) */
export const SHARED = [resolve(REPO, '../shared'), '/work/shared'].find((p) => existsSync(p)) ?? resolve(REPO, '../shared');
export const FIXTURES = join(SHARED, 'fixtures');

export function tempDir(prefix = 'ls-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
