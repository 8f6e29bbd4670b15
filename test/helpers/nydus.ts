// The Nydus fixtures (fixtures/nydus: nydus' own test textures plus images derived from them), named
// once: the bootstraps and blobs several tests open, where they live, and their own expectations
// (EXPECTED.json, and the md5 lines of tests/texture/repeatable/X.result).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BytesSource } from '../../src/lib/io/source.ts';
import { FIXTURES } from './paths.ts';

export const NYDUS = join(FIXTURES, 'nydus');

/** Paths under fixtures/nydus (also the keys of EXPECTED.json). */
export const RAFS = {
  /** v5, sha256 digests, uncompressed chunks (blob BLOB_PLAIN) */
  V5: 'tests/texture/repeatable/sha256-nocompress-repeatable',
  /** v5, blake3 digests (its chunks are in BLOB_PLAIN too) */
  V5_BLAKE3: 'tests/texture/repeatable/blake3-lz4_block-non_repeatable',
  /** the 2020 bootstraps of the same tree: lz4 chunks in BLOB_LZ4, and sha256 in BLOB_PLAIN */
  V5_2020_LZ4: 'git-history/2378d074-2020-01-20/tests/texture/repeatable/blake3-lz4_block-non_repeatable',
  V5_2020: 'git-history/2378d074-2020-01-20/tests/texture/repeatable/sha256-nocompress-repeatable',
  /** a v5 bootstrap whose inode table is garbage (nydusd's daemon test) */
  V5_GARBAGE: 'tests/texture/bootstrap/nydusd_daemon_test_bootstrap',
  BLOB_DIR: 'tests/texture/repeatable/blobs',
  BLOB_PLAIN: 'tests/texture/repeatable/blobs/7334a2594e133cf8ae364189c2276b090fc490c627bcc3fb1077f0419a538e00',
  BLOB_LZ4: 'tests/texture/repeatable/blobs/d7b86b1e74e316fe945741d1a9fa1b271459fe41481e304977659e0c6ecf56ac',
  /** v6 from nydus-image 2.2, zstd chunks in V6_BLOB; V6_DEV is that blob's uncompressed address space */
  V6: 'tests/texture/bootstrap/rafs-v6-2.2.boot',
  V6_BLOB_DIR: 'tests/texture/blobs',
  V6_BLOB: 'tests/texture/blobs/be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef',
  V6_DEV: 'derived/be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef.blob.data',
  /** a data blob carrying its bootstrap behind a ToC; TOC_BOOT is that bootstrap, TOC_DEV its device */
  TOC_BLOB: 'tests/texture/toc/2fa78cad554b75ac91a4a125ed148d0ddeb25efa4aaa8bd80e5dc292690a4dca',
  TOC_BOOT: 'derived/2fa78cad554b75ac91a4a125ed148d0ddeb25efa4aaa8bd80e5dc292690a4dca.image.boot',
  TOC_DEV: 'derived/d788a0eac4ff9779bc2eae3842117a918d847d90fddbea1503f7c5296a4a7de3.blob.data',
  TAR_DIR: 'tests/texture/tar',
  ZRAN_DIR: 'tests/texture/zran',
} as const;

/** absolute path of `rel` (a RAFS.* name or another path under fixtures/nydus) */
export function nydusFixture(rel: string): string {
  return join(NYDUS, rel);
}

export function nydusBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(nydusFixture(rel)));
}

/** the fixture in memory, named by its absolute path */
export function nydusSource(rel: string): BytesSource {
  return new BytesSource(nydusBytes(rel), nydusFixture(rel));
}

let expected: Record<string, Record<string, unknown>> | undefined;
/** EXPECTED.json: what nydus-image inspect/check said about each bootstrap, keyed by RAFS.* path */
export function nydusExpected(): Record<string, Record<string, unknown>> {
  return (expected ??= JSON.parse(readFileSync(nydusFixture('EXPECTED.json'), 'utf8')) as Record<string, Record<string, unknown>>);
}

/** path -> md5 hex, from the X.result beside the bootstrap `boot` (a path under fixtures/nydus) */
export function resultMd5s(boot: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(nydusFixture(`${boot}.result`), 'utf8').split('\n')) {
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
