// Every struct table in src/lib/**/structs.ts covers its bytes exactly: no byte left to no field, no
// byte named twice unless by a reserved field; struct() refuses tables that do not.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isReservedField, struct, type Field, type StructDef } from '../src/lib/struct.ts';

const LIB = join(import.meta.dirname, '..', 'src', 'lib');

function structFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...structFiles(p));
    else if (e.name === 'structs.ts') out.push(p);
  }
  return out.sort();
}

function isStruct(v: unknown): v is StructDef {
  return typeof v === 'object' && v !== null && typeof (v as StructDef).name === 'string' && typeof (v as StructDef).size === 'number'
    && Array.isArray((v as StructDef).fields) && typeof (v as StructDef).f === 'object';
}

/** Byte by byte: how many fields, and how many non-reserved fields, name each byte. */
function coverage(def: StructDef): { owners: number[]; plain: number[] } {
  const owners = new Array<number>(def.size).fill(0);
  const plain = new Array<number>(def.size).fill(0);
  for (const f of def.fields) {
    for (let b = f.offset; b < f.offset + f.size; b++) {
      owners[b]!++;
      if (!isReservedField(f.name)) plain[b]!++;
    }
  }
  return { owners, plain };
}

test('every exported struct table covers each of its bytes once (reserved fields aside)', async () => {
  const files = structFiles(LIB);
  assert.ok(files.length >= 4, `struct files found: ${files.map((f) => relative(LIB, f)).join(', ')}`);
  let tables = 0;
  for (const file of files) {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const [exportName, v] of Object.entries(mod)) {
      if (!isStruct(v)) continue;
      tables++;
      const where = `${relative(LIB, file)} ${exportName} (${v.name}, ${v.size} bytes)`;
      const { owners, plain } = coverage(v);
      const gaps = owners.flatMap((n, b) => (n === 0 ? [b] : []));
      assert.deepEqual(gaps, [], `${where}: bytes no field names`);
      const twice = plain.flatMap((n, b) => (n > 1 ? [b] : []));
      assert.deepEqual(twice, [], `${where}: bytes two fields name`);
      // every field lies inside the struct, and `f` indexes the same fields
      for (const f of v.fields as readonly Field[]) {
        assert.ok(f.offset >= 0 && f.offset + f.size <= v.size, `${where}: ${f.name}`);
        assert.equal((v.f as Record<string, Field>)[f.name], f, `${where}: f.${f.name}`);
      }
    }
  }
  // erofs, composefs, rafs and tar declare dozens between them
  assert.ok(tables >= 20, `${tables} struct tables`);
});

test('struct() refuses gaps and overlaps unless a reserved field takes the bytes', () => {
  // a gap inside, and one at the end
  assert.throws(() => struct('t', 8, [['a', 0, 2, 'u16'], ['b', 4, 4, 'u32']] as const), /t: bytes 2\.\.3 belong to no field/);
  assert.throws(() => struct('t', 8, [['a', 0, 4, 'u32']] as const), /t: bytes 4\.\.7 belong to no field/);
  // an overlap of two plain fields
  assert.throws(() => struct('t', 8, [['a', 0, 4, 'u32'], ['b', 2, 4, 'u32'], ['c', 6, 2, 'u16']] as const), /t: b \(bytes 2\.\.5\) overlaps a/);
  // the gap declared as reserved, in any order of declaration
  const ok = struct('t', 8, [['b', 4, 4, 'u32'], ['reserved', 2, 2, 'bytes'], ['a', 0, 2, 'u16']] as const);
  assert.equal(ok.fields.length, 3);
  // a reserved field may overlay others (room described in parts)
  assert.equal(struct('t', 8, [['a', 0, 4, 'u32'], ['b', 4, 4, 'u32'], ['reserved_all', 0, 8, 'bytes']] as const).size, 8);
  // a field declared twice, and an empty field
  assert.throws(() => struct('t', 4, [['a', 0, 2, 'u16'], ['a', 2, 2, 'u16']] as const), /declared twice/);
  assert.throws(() => struct('t', 4, [['a', 0, 4, 'u32'], ['z', 2, 0, 'bytes']] as const), /size positive/);
});
