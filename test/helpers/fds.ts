import { readdirSync, readlinkSync } from 'node:fs';

/** The targets of this process's open descriptors that `match` (Linux /proc; an unlinked file reads "... (deleted)"). */
export function openFds(match: (target: string) => boolean): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const l = readlinkSync(`/proc/self/fd/${fd}`);
      if (match(l)) out.push(l);
    } catch {
      // closed while listing (the descriptor readdir itself used, for one)
    }
  }
  return out;
}
