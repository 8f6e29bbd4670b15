import { runCases, type BenchInputs, type CaseResult } from './cases.ts';

async function fetchBytes(path: string): Promise<Uint8Array> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Inputs are written by bench/codecs.ts and served under data/ next to the page. */
async function loadInputs(): Promise<BenchInputs> {
  const [corpus, lz4, zstd, gzip, lz4Index] = await Promise.all([
    fetchBytes('data/corpus.bin'), fetchBytes('data/corpus.lz4blocks'), fetchBytes('data/corpus.zst'), fetchBytes('data/corpus.gz'),
    fetch('data/lz4blocks.json').then((r) => r.json() as Promise<{ offset: number; length: number; size: number }[]>),
  ]);
  return { corpus, zstd, gzip, lz4Blocks: lz4Index.map((b) => ({ src: lz4.subarray(b.offset, b.offset + b.length), size: b.size })) };
}

async function runBench(): Promise<CaseResult[]> {
  const log = document.getElementById('log')!;
  return runCases(await loadInputs(), (s) => { log.textContent += s + '\n'; });
}

(globalThis as unknown as { runBench: typeof runBench }).runBench = runBench;
