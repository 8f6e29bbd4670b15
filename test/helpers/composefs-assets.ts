// The upstream composefs test assets (../shared/fixtures/composefs): every expectation comes from
// the fixtures' own files (X.sha256, X.version, README.txt, golden/SUMMARY.txt).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FIXTURES } from './paths.ts';

export const ASSETS = join(FIXTURES, 'composefs/assets');
export const GOLDEN = join(FIXTURES, 'composefs/golden');

/** The asset's path; special_v1.dump is a git symlink, checked out on some machines as a file holding its target. */
export function assetPath(name: string): string {
  const p = join(ASSETS, name);
  const data = readFileSync(p);
  if (data.length < 64 && !data.includes(0x0a)) {
    const target = join(ASSETS, new TextDecoder().decode(data));
    if (existsSync(target)) return target;
  }
  return p;
}

/** An asset's dump text (gunzipped). */
export function readAsset(name: string): Uint8Array {
  const data: Uint8Array = readFileSync(assetPath(name));
  return name.endsWith('.gz') ? gunzipSync(data) : data;
}

/** Assets with both a dump and its X.sha256 (the ones tests/test-checksums.sh builds). */
export function assetsWithDump(): string[] {
  return readdirSync(ASSETS)
    .filter((n) => n.endsWith('.sha256'))
    .map((n) => n.slice(0, -'.sha256'.length))
    .filter((n) => existsSync(join(ASSETS, n)))
    .sort();
}

/** sha256 of the image mkcomposefs builds from the asset */
export function expectedSha256(name: string): string {
  return readFileSync(join(ASSETS, `${name}.sha256`), 'utf8').trim().split(/\s+/)[0]!;
}

/** X.version: the --min-version and --max-version the asset is built with */
export function assetVersion(name: string): number | undefined {
  const f = join(ASSETS, `${name}.version`);
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : undefined;
}

/** The assets built without CFS_PARSE_STRICT, as README.txt lists them ("… is set except for A, B, C."). */
export function lenientAssets(): Set<string> {
  const text = readFileSync(join(ASSETS, 'README.txt'), 'utf8');
  const m = /CFS_PARSE_STRICT=1 is set except for\s+([^\n]+)/.exec(text);
  if (!m) throw new Error('README.txt no longer lists the assets parsed without CFS_PARSE_STRICT');
  return new Set(m[1]!.replace(/\.\s*$/, '').split(/,\s*/));
}

/** expected fs-verity digests of the images (golden/SUMMARY.txt: asset version sha256 fsverity OK) */
export function summaryDigests(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(GOLDEN, 'SUMMARY.txt'), 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 5 && f[4] === 'OK') m.set(f[0]!, f[3]!);
  }
  return m;
}
