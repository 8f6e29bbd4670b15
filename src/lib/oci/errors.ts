// What goes wrong with an image as a whole (not one of its bytes): a typed FormatError with a code
// a test or the page can branch on, and the image part it names as the structure.
import { FormatError } from '../errors.ts';

export type OciErrorCode =
  /** a blob's bytes do not hash to the digest that names them */
  | 'digest-mismatch'
  /** a layer's uncompressed bytes do not hash to the config's rootfs.diff_ids entry */
  | 'diff-id-mismatch'
  /** a descriptor names a blob the layout does not hold */
  | 'missing-blob'
  /** a digest that is no `alg:hex` of a known algorithm: it could name a path outside blobs/ */
  | 'bad-digest'
  /** a path (docker save manifest.json) that is absolute or climbs out with ".." */
  | 'bad-path'
  /** a blob of another size than its descriptor says */
  | 'size-mismatch'
  /** more entries, layers or bytes than a real image has: refused before it is parsed */
  | 'too-large'
  /** a layer entry named with ".." or an absolute path */
  | 'unsafe-name'
  /** JSON that does not parse or lacks what the spec requires */
  | 'bad-json'
  /** no manifest for the platform / reference asked, or several and none chosen */
  | 'no-manifest';

export class OciError extends FormatError {
  constructor(readonly code: OciErrorCode, structure: string, detail: string, offset = -1) {
    super(structure, offset, detail);
  }
}
