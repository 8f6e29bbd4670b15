import { registerFormat } from '../open.ts';
import { openComposefs, probeComposefs } from './reader.ts';

/** composefs header magic 0xD078629A at byte 0; ahead of plain EROFS (priority 0), which would also match */
registerFormat({
  id: 'composefs',
  probe: probeComposefs,
  open: (src, opts) => openComposefs(src, opts.objectStore ? { objectStore: opts.objectStore } : {}),
}, 10);
