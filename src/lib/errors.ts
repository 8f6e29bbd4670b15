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

/**
 * Throws a FormatError naming the structure and offset. Hot parsing paths write
 * `if (!cond) fail(…)` rather than `check(cond, …)`: check's message (a template string) is built
 * on every call, pass or fail, and a directory walk makes millions of checks.
 */
export function fail(structure: string, offset: number, detail: string): never {
  throw new FormatError(structure, offset, detail);
}

/** Throws a FormatError unless `cond`. Used for every length/offset check before trusting a value. */
export function check(cond: boolean, structure: string, offset: number, detail: string): asserts cond {
  if (!cond) throw new FormatError(structure, offset, detail);
}

export function isTypedError(e: unknown): e is FormatError | IoError | NotFoundError | UnsupportedError {
  return e instanceof FormatError || e instanceof IoError || e instanceof NotFoundError || e instanceof UnsupportedError;
}

/** A thrown value as plain data, to cross a thread boundary (postMessage drops an Error's class). */
export interface PlainError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  fields: Record<string, string | number>;
}

export function toPlainError(e: unknown): PlainError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e), fields: {} };
  const fields: Record<string, string | number> = {};
  for (const k of ['structure', 'offset', 'detail', 'source', 'what', 'feature'] as const) {
    const v = (e as unknown as Record<string, unknown>)[k];
    if (typeof v === 'string' || typeof v === 'number') fields[k] = v;
  }
  const code = (e as { code?: unknown }).code;
  return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...(typeof code === 'string' ? { code } : {}), fields };
}

/** The typed error again when it was one; otherwise an Error with the same message, code and stack. */
export function fromPlainError(p: PlainError): Error {
  const f = p.fields;
  const s = (k: string): string => String(f[k] ?? '');
  switch (p.name) {
    case 'FormatError': return new FormatError(s('structure'), Number(f.offset ?? -1), s('detail'));
    case 'IoError': return new IoError(s('source'), s('detail'));
    case 'NotFoundError': return new NotFoundError(s('what'));
    case 'UnsupportedError': return new UnsupportedError(s('feature'), s('detail'));
  }
  const e = new Error(p.message) as Error & { code?: string };
  if (p.code) e.code = p.code;
  if (p.stack) e.stack = p.stack;
  return e;
}
