/**
 * The `layerscope` command line equivalent to what the page shows, so a view can be repeated in a
 * terminal. Arguments are quoted for a POSIX shell only when they need it.
 */
export type CliView = 'files' | 'stat' | 'cat' | 'inspect' | 'extract' | 'diff' | 'oci';

export function shellQuote(s: string): string {
  if (s !== '' && /^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface CliInput {
  /** the image as the user would name it on disk (file name or URL) */
  image: string;
  /** blob files given with a RAFS bootstrap, or extra devices of an EROFS image */
  blobs?: string[];
  blobFlag?: '--blob' | '--device';
  path?: string;
  isDir?: boolean;
  /** diff: the image compared with */
  other?: string;
  /** oci: the page's Image view part, its layer, the platform opened */
  oci?: { part: 'config' | 'history' | 'layers' | 'efficiency'; layer: number | null; platform?: string };
}

export function cliCommand(view: CliView, x: CliInput): string {
  const extra = (x.blobs ?? []).flatMap((b) => [x.blobFlag ?? '--blob', b]);
  const path = x.path ?? '/';
  let args: string[];
  switch (view) {
    case 'files':
      args = ['ls', x.image, path, '-l', '--json'];
      break;
    case 'stat':
      args = ['stat', x.image, path, '--json'];
      break;
    case 'cat':
      args = ['cat', x.image, path];
      break;
    case 'diff':
      args = ['diff', x.image, x.other ?? 'OTHER'];
      break;
    case 'oci': {
      const o = x.oci ?? { part: 'config', layer: null };
      // one layer's changes are `oci ls --layer N`; `oci layers` prints the efficiency too
      args = o.part === 'layers' && o.layer !== null ? ['oci', 'ls', x.image, '--layer', String(o.layer)] : ['oci', o.part === 'efficiency' ? 'layers' : o.part, x.image];
      if (o.platform) args.push('--platform', o.platform);
      break;
    }
    case 'extract':
      args = ['extract', x.image, 'out', ...(path !== '/' ? ['--path', path] : [])];
      break;
    default:
      args = ['inspect', x.image, '--json'];
  }
  // options about the image's inputs go right after the image (the CLI accepts them anywhere)
  return ['layerscope', ...args.slice(0, 2), ...extra, ...args.slice(2)].map(shellQuote).join(' ');
}
