/**
 * Name search for the inspector: a query is a glob when it holds `*`, `?` or `[`, else a substring.
 * A query with a `/` is matched against the whole path, otherwise against the last component.
 * Case-insensitive unless the query has an upper-case letter ("smart case").
 */
export interface Matcher {
  kind: 'glob' | 'substring';
  /** true when the query names paths (contains '/') rather than names */
  wholePath: boolean;
  test(path: string): boolean;
}

const GLOB_CHARS = /[*?[]/;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** glob → RegExp source: `**` crosses '/', `*` and `?` do not, `[...]`/`[!...]` classes; anchored. */
export function globToRegExpSource(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // "**/" also matches no directory at all
        if (glob[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i++;
        }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const neg = body.startsWith('!') || body.startsWith('^');
      if (neg) body = body.slice(1);
      re += `[${neg ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return `^${re}$`;
}

export function compileMatcher(query: string): Matcher {
  const q = query.trim();
  const caseSensitive = q !== q.toLowerCase();
  const wholePath = q.includes('/');
  const subject = (path: string): string => {
    const s = wholePath ? path : path.slice(path.lastIndexOf('/') + 1);
    return caseSensitive ? s : s.toLowerCase();
  };
  if (GLOB_CHARS.test(q)) {
    // a path glob without a leading '/' may match at any depth
    const pat = wholePath && !q.startsWith('/') ? `**/${q}` : q;
    const re = new RegExp(globToRegExpSource(caseSensitive ? pat : pat.toLowerCase()), 's');
    return { kind: 'glob', wholePath, test: (p) => re.test(subject(p)) };
  }
  const needle = caseSensitive ? q : q.toLowerCase();
  return { kind: 'substring', wholePath, test: (p) => subject(p).includes(needle) };
}
