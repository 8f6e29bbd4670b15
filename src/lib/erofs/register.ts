import { registerFormat } from '../open.ts';
import { openErofs } from './reader.ts';
import { EROFS_MAGIC, EROFS_SUPER_OFFSET } from './structs.ts';

/** magic 0xE0F5E1E2 at byte 1024 */
export function probeErofs(head: Uint8Array): boolean {
  if (head.length < EROFS_SUPER_OFFSET + 4) return false;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return v.getUint32(EROFS_SUPER_OFFSET, true) === EROFS_MAGIC;
}

registerFormat({ id: 'erofs', probe: probeErofs, open: (src, opts) => openErofs(src, { devices: opts.blobs ?? [] }) }, 0);
