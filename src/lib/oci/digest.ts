// Digests: parsed before they name a path (a digest is input: "sha256:../../etc/passwd" must never
// become one), and checked on every blob read.
import { sha512 } from '@noble/hashes/sha2.js';
import { hex } from '../bytes.ts';
import { createSha256 } from '../codec/sha256.ts';
import type { Hasher } from '../codec/blake3.ts';
import type { ByteSource } from '../io/source.ts';
import { OciError } from './errors.ts';

/** The algorithms image-spec registers (descriptor.md), with the length of their hex encoding. */
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export interface Digest {
  alg: 'sha256' | 'sha512';
  hex: string;
}

export function parseDigest(value: unknown, structure: string): Digest {
  if (typeof value !== 'string') throw new OciError('bad-digest', structure, `digest ${JSON.stringify(value)} is not a string`);
  const m = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(value);
  if (!m) throw new OciError('bad-digest', structure, `digest ${JSON.stringify(value)} is not "algorithm:encoded" (a "/" or ".." there would name a path outside blobs/)`);
  const len = HEX_LENGTH[m[1]!];
  if (len === undefined) throw new OciError('bad-digest', structure, `digest ${JSON.stringify(value)}: unknown algorithm ${JSON.stringify(m[1])} (sha256 and sha512 are registered)`);
  if (m[2]!.length !== len || !/^[0-9a-f]+$/.test(m[2]!)) throw new OciError('bad-digest', structure, `digest ${JSON.stringify(value)}: a ${m[1]} digest is ${len} lowercase hex digits`);
  return { alg: m[1] as Digest['alg'], hex: m[2]! };
}

export function digestText(d: Digest): string {
  return `${d.alg}:${d.hex}`;
}

export function blobPath(d: Digest): string {
  return `blobs/${d.alg}/${d.hex}`;
}

export function hasherFor(alg: Digest['alg']): Hasher {
  if (alg === 'sha256') return createSha256();
  const h = sha512.create();
  const api: Hasher = { update(b) { h.update(b); return api; }, digest: () => h.digest() };
  return api;
}

/** Throws a digest-mismatch OciError unless `got` (hex) is the digest's hex. */
export function checkDigest(want: Digest, got: string, structure: string, what: string): void {
  if (got !== want.hex) throw new OciError('digest-mismatch', structure, `${what}: its bytes hash to ${want.alg}:${got}, not ${digestText(want)}`);
}

/** The whole of a small blob, read once and checked against its digest. */
export async function readVerified(src: ByteSource, want: Digest | null, structure: string, maxSize: number): Promise<Uint8Array> {
  if (src.size > maxSize) throw new OciError('too-large', structure, `${src.name}: ${src.size} bytes, more than the ${maxSize} a ${structure} may have`);
  const b = await src.read(0, src.size);
  if (want) checkDigest(want, hex(hasherFor(want.alg).update(b).digest()), structure, src.name);
  return b;
}
