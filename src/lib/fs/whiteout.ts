// OCI layer whiteouts (image-spec layer.md): a `.wh.NAME` entry removes NAME from the layers below,
// and `.wh..wh..opq` in a directory hides everything the layers below put there. Kept in a tree as
// ordinary entries until a builder applies the layer (rafs/builder/layers.ts) or a summary counts
// them (app/tree-summary.ts); overlayfs's own whiteouts (a 0:0 character device, an opaque xattr)
// are recognised beside them where that is done.
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

const enc = new TextEncoder();
export const WHITEOUT_PREFIX_BYTES = enc.encode(WHITEOUT_PREFIX);
export const OPAQUE_WHITEOUT_BYTES = enc.encode(OPAQUE_WHITEOUT);
