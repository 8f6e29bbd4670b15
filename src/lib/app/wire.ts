/**
 * The one error format across worker boundaries (the page's inspector and builder workers):
 * structured clone keeps only an Error's name and message, so a failure crosses as plain data with
 * the typed error's fields (FormatError: structure, offset, detail; IoError: source; …) flattened
 * in, and can be rebuilt into the typed error on the other side.
 */
import { fromPlainError, toPlainError } from '../errors.ts';

export interface WireError {
  name: string;
  message: string;
  /** FormatError: the on-disk structure and the absolute byte offset of the bad value */
  structure?: string;
  offset?: number;
  detail?: string;
  /** IoError: the source that failed */
  source?: string;
  /** NotFoundError: what is absent */
  what?: string;
  /** UnsupportedError: the feature refused */
  feature?: string;
  code?: string;
}

const STRING_FIELDS = ['structure', 'detail', 'source', 'what', 'feature'] as const;

export function isWireError(e: unknown): e is WireError {
  return !!e && typeof e === 'object' && !(e instanceof Error) && typeof (e as WireError).name === 'string' && typeof (e as WireError).message === 'string';
}

/** Any thrown value as a WireError (a WireError passes through as it is). */
export function toWire(e: unknown): WireError {
  if (isWireError(e)) return e;
  // DOMException (AbortError) is not an Error subclass everywhere
  if (!(e instanceof Error) && e && typeof e === 'object' && typeof (e as { name?: unknown }).name === 'string' && typeof (e as { message?: unknown }).message === 'string') {
    return { name: (e as { name: string }).name, message: (e as { message: string }).message };
  }
  const p = toPlainError(e);
  const w: WireError = { name: p.name, message: p.message };
  for (const k of STRING_FIELDS) if (typeof p.fields[k] === 'string') w[k] = p.fields[k];
  if (typeof p.fields.offset === 'number') w.offset = p.fields.offset;
  if (p.code) w.code = p.code;
  return w;
}

/** The typed error again (FormatError, IoError, …) or an Error with the same name and message. */
export function fromWire(w: WireError): Error {
  const fields: Record<string, string | number> = {};
  for (const k of STRING_FIELDS) if (w[k] !== undefined) fields[k] = w[k]!;
  if (w.offset !== undefined) fields.offset = w.offset;
  const e = fromPlainError({ name: w.name, message: w.message, fields, ...(w.code ? { code: w.code } : {}) });
  if (e.name !== w.name) e.name = w.name;
  return e;
}

/** Runs `f` and rethrows any failure as a WireError, which Comlink clones as is. */
export async function wired<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toWire(e);
  }
}

/** A plain failure of a request (no typed error behind it): "image 3 is not open", "no files given". */
export function wireError(message: string, name = 'Error'): WireError {
  return { name, message };
}
