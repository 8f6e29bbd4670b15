// Adds RAFS v5 and v6 to openImage(). v6 bootstraps are EROFS images too: the priority puts this
// probe (EROFS magic + RAFS v6 compat bit + a sane ext superblock) ahead of plain EROFS.
import { registerFormat } from '../open.ts';
import { RafsV5 } from './v5.ts';
import { RafsV6 } from './v6.ts';
import { looksLikeBlobWithBootstrap, openRafsBlob, probeRafsV5, probeRafsV6 } from './index.ts';

registerFormat({ id: 'rafs-v5', probe: probeRafsV5, open: (src, opts) => RafsV5.open(src, opts) }, 20);
registerFormat({ id: 'rafs-v6', probe: probeRafsV6, open: (src, opts) => RafsV6.open(src, opts) }, 20);
// a data blob with its bootstrap inlined (ToC or trailing image.boot) is recognised by its tail
registerFormat({ id: 'rafs-v6', probe: () => false, probeSource: looksLikeBlobWithBootstrap, open: (src, opts) => openRafsBlob(src, opts) }, 5);
