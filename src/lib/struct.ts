/**
 * On-disk structure descriptions. Each format's `structs.ts` declares its structures once with
 * `struct(...)`: the field names, offsets and sizes there are the single source of truth used by the
 * readers (decode), the writers (encode) and the page's structure view (describe).
 * All formats here are little-endian.
 */
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

export function struct<const F extends readonly FieldSpec[]>(name: string, size: number, specs: F): StructDef<F> {
  const fields: Field[] = [];
  const byName: Record<string, Field> = {};
  for (const [fname, offset, fsize, kind, note] of specs) {
    const want = KIND_SIZE[kind];
    if (want !== undefined && want !== fsize) throw new Error(`${name}.${fname}: ${kind} must be ${want} bytes`);
    if (offset < 0 || offset + fsize > size) throw new Error(`${name}.${fname} lies outside the ${size}-byte struct`);
    const field: Field = note === undefined ? { name: fname, offset, size: fsize, kind } : { name: fname, offset, size: fsize, kind, note };
    fields.push(field);
    byName[fname] = field;
  }
  return { name, size, fields, f: byName as StructDef<F>['f'] };
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

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
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
