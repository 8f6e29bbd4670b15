/**
 * On-disk structure descriptions. Each format's `structs.ts` declares its structures once with
 * `struct(...)`: the field names, offsets and sizes there are the single source of truth used by the
 * readers (decode), the writers (encode) and the page's structure view (describe).
 * All formats here are little-endian.
 */
import { hex } from './bytes.ts';
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'bytes';
export type FieldSpec = readonly [name: string, offset: number, size: number, kind: FieldKind, note?: string];

export interface Field {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: FieldKind;
  readonly note?: string;
}

type ValueOf<K extends FieldKind> = K extends 'bytes' ? Uint8Array : number;
export type StructValues<F extends readonly FieldSpec[]> = { -readonly [S in F[number] as S[0]]: ValueOf<S[3]> };

export interface StructDef<F extends readonly FieldSpec[] = readonly FieldSpec[]> {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly Field[];
  /** field by name, for hot paths that read one field with a DataView */
  readonly f: { readonly [S in F[number] as S[0]]: Field };
}

const KIND_SIZE: Partial<Record<FieldKind, number>> = { u8: 1, u16: 2, u32: 4, u64: 8, i64: 8 };

/** A field that only holds room (unused, padding, must-be-zero bytes): it may overlap another. */
export function isReservedField(name: string): boolean {
  return /reserved|padding|unused/i.test(name);
}

/**
 * Declares a struct. Its fields must cover every byte of it exactly once: a byte no field names
 * (a gap) is refused, so unused bytes are declared as a field named `reserved…` (or `…padding`,
 * `unused…`); two fields sharing a byte (an overlap) are refused unless one of them is such a
 * reserved field. A table that disagrees with the on-disk size therefore fails when it is loaded.
 */
export function struct<const F extends readonly FieldSpec[]>(name: string, size: number, specs: F): StructDef<F> {
  const fields: Field[] = [];
  const byName: Record<string, Field> = {};
  for (const [fname, offset, fsize, kind, note] of specs) {
    const want = KIND_SIZE[kind];
    if (want !== undefined && want !== fsize) throw new Error(`${name}.${fname}: ${kind} must be ${want} bytes`);
    if (!Number.isInteger(offset) || !Number.isInteger(fsize) || fsize <= 0) throw new Error(`${name}.${fname}: offset ${offset} and size ${fsize} must be integers, the size positive`);
    if (offset < 0 || offset + fsize > size) throw new Error(`${name}.${fname} lies outside the ${size}-byte struct`);
    if (fname in byName) throw new Error(`${name}.${fname} is declared twice`);
    const field: Field = note === undefined ? { name: fname, offset, size: fsize, kind } : { name: fname, offset, size: fsize, kind, note };
    fields.push(field);
    byName[fname] = field;
  }
  checkCoverage(name, size, fields);
  return { name, size, fields, f: byName as StructDef<F>['f'] };
}

function checkCoverage(name: string, size: number, fields: readonly Field[]): void {
  const sorted = [...fields].sort((a, b) => a.offset - b.offset || b.size - a.size);
  let end = 0;
  let last: Field | null = null;
  for (const f of sorted) {
    if (f.offset > end) throw new Error(`${name}: bytes ${end}..${f.offset - 1} belong to no field (declare them as a reserved field)`);
    if (f.offset < end && last && !isReservedField(f.name) && !isReservedField(last.name)) {
      throw new Error(`${name}: ${f.name} (bytes ${f.offset}..${f.offset + f.size - 1}) overlaps ${last.name} (up to byte ${end - 1})`);
    }
    if (f.offset + f.size > end) {
      end = f.offset + f.size;
      last = f;
    }
  }
  if (end < size) throw new Error(`${name}: bytes ${end}..${size - 1} belong to no field (declare them as a reserved field)`);
}

function dv(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** u64 as a JS number: exact below 2^53, which every offset/size/count we trust is checked to be. */
export function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x1_0000_0000;
}
export function writeU64(view: DataView, at: number, v: number): void {
  view.setUint32(at, v >>> 0, true);
  view.setUint32(at + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
}

function readField(view: DataView, at: number, f: Field, bytes: Uint8Array): number | Uint8Array {
  const o = at + f.offset;
  switch (f.kind) {
    case 'u8': return view.getUint8(o);
    case 'u16': return view.getUint16(o, true);
    case 'u32': return view.getUint32(o, true);
    case 'u64': return readU64(view, o);
    case 'i64': return Number(view.getBigInt64(o, true));
    case 'bytes': return bytes.subarray(o, o + f.size);
  }
}

/** Decode `def` from `bytes` at `at`. The caller has checked that `at + def.size <= bytes.length`. */
export function decodeStruct<F extends readonly FieldSpec[]>(def: StructDef<F>, bytes: Uint8Array, at = 0): StructValues<F> {
  if (at < 0 || at + def.size > bytes.length) throw new RangeError(`${def.name}: ${def.size} bytes at ${at} exceed a ${bytes.length}-byte buffer`);
  const view = dv(bytes);
  const out: Record<string, number | Uint8Array> = {};
  for (const f of def.fields) out[f.name] = readField(view, at, f, bytes);
  return out as StructValues<F>;
}

export function encodeStruct<F extends readonly FieldSpec[]>(def: StructDef<F>, values: Partial<StructValues<F>>, out: Uint8Array, at = 0): void {
  const view = dv(out);
  const vals = values as Record<string, number | Uint8Array | undefined>;
  for (const f of def.fields) {
    const v = vals[f.name];
    if (v === undefined) continue;
    const o = at + f.offset;
    if (f.kind === 'bytes') {
      const b = v as Uint8Array;
      if (b.length > f.size) throw new RangeError(`${def.name}.${f.name}: ${b.length} bytes do not fit in ${f.size}`);
      out.set(b, o);
      continue;
    }
    const n = v as number;
    switch (f.kind) {
      case 'u8': view.setUint8(o, n); break;
      case 'u16': view.setUint16(o, n, true); break;
      case 'u32': view.setUint32(o, n >>> 0, true); break;
      case 'u64': writeU64(view, o, n); break;
      case 'i64': view.setBigInt64(o, BigInt(n), true); break;
    }
  }
}

/** One decoded field with its absolute position, for the structure view and `--json` dumps. */
export interface DescribedField {
  name: string;
  offset: number;
  size: number;
  kind: FieldKind;
  value: number | string;
  note?: string;
}


/** `base` is the absolute offset of bytes[0] in the image. */
export function describeStruct(def: StructDef, bytes: Uint8Array, at = 0, base = 0): DescribedField[] {
  const view = dv(bytes);
  return def.fields.map((f) => {
    const v = readField(view, at, f, bytes);
    const d: DescribedField = { name: f.name, offset: base + at + f.offset, size: f.size, kind: f.kind, value: typeof v === 'number' ? v : hex(v) };
    if (f.note !== undefined) d.note = f.note;
    return d;
  });
}
