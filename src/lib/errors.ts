/**
 * Every parser failure is a FormatError naming the on-disk structure and the byte offset where the
 * bad value sits, so a user (and the corruption sweep) can tell a damaged image from a bug.
 * Anything else thrown from the core is a bug.
 */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  constructor(
    /** on-disk structure, e.g. "erofs.superblock", "erofs.dirent", "rafs.v5.inode" */
    readonly structure: string,
    /** absolute byte offset in the source the structure was read from (-1 when not applicable) */
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${structure} at byte ${offset}: ${detail}`);
  }
}

/** A byte source could not deliver what was asked (short file, HTTP failure, no Range support). */
export class IoError extends Error {
  override readonly name = 'IoError';
  constructor(readonly source: string, readonly detail: string) {
    super(`${source}: ${detail}`);
  }
}

/** A request that is valid but names something absent (path, xattr, inode). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly what: string) {
    super(`not found: ${what}`);
  }
}

/** A request this build refuses on purpose (e.g. zstd compression), with the reason. */
export class UnsupportedError extends Error {
  override readonly name = 'UnsupportedError';
  constructor(readonly feature: string, readonly detail: string) {
    super(`${feature}: ${detail}`);
  }
}

/** Throws a FormatError unless `cond`. Used for every length/offset check before trusting a value. */
export function check(cond: boolean, structure: string, offset: number, detail: string): asserts cond {
  if (!cond) throw new FormatError(structure, offset, detail);
}

export function isTypedError(e: unknown): e is FormatError | IoError | NotFoundError | UnsupportedError {
  return e instanceof FormatError || e instanceof IoError || e instanceof NotFoundError || e instanceof UnsupportedError;
}
