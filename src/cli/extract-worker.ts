// An extract worker thread (see extract.ts): it takes jobs (records of entries to restore) from the
// shared counter as the main thread publishes them, and sends back its report and the helper
// operations it collected. It loads only this module and extract-leaf.ts: starting it costs a
// Node environment and little else.
import { parentPort, workerData } from 'node:worker_threads';
import { toPlainError, type PlainError } from '../lib/errors.ts';
import { finishJob, readJob, type EncodedJob } from './extract-job.ts';
import { collectOps, newReport, openSources, PIECE, restoreLeaf, type ExtractReport, type LeafCtx } from './extract-leaf.ts';

export interface WorkerInit {
  owners: boolean;
  python: boolean;
  destLen: number;
  /** [0]: next job; [1 + w]: worker w is 0 starting, 1 claiming, 2 called off; [1 + workers]: workers holding a first job */
  shared: Int32Array;
  /** the split files' part counters (LeafCtx.parts) */
  parts: Int32Array;
  index: number;
  workers: number;
  everyThread: boolean;
}

/** From the main thread: jobs (some entries of one directory each) as they are published, then how many there are in all. */
export type ToWorker = { jobs: EncodedJob[] } | { end: number };

export type WorkerResult =
  | { report: ExtractReport; ops: string; touchesDirs: boolean; jobs: number }
  | { error: PlainError }
  | { calledOff: true };

/** A worker's messages: `started` once it holds its first job, then its result. */
export type FromWorker = { started: true } | WorkerResult;

async function workerMain(init: WorkerInit): Promise<void> {
  const port = parentPort!;
  const jobs: (EncodedJob | null)[] = [];
  let total = Infinity;
  let wake: (() => void) | null = null;
  // delivered only while this thread waits below: its work in between is synchronous
  const onMessage = (m: ToWorker): void => {
    if ('jobs' in m) for (const j of m.jobs) jobs.push(j);
    else total = m.end;
    wake?.();
    wake = null;
  };
  port.on('message', onMessage);
  // counted once, on the first job or on failing before one: everyThread workers wait for the count
  let counted = false;
  const countIn = (): void => {
    if (counted) return;
    counted = true;
    Atomics.add(init.shared, 1 + init.workers, 1);
    Atomics.notify(init.shared, 1 + init.workers);
  };
  const sources = openSources();
  let result: WorkerResult;
  try {
    if (Atomics.compareExchange(init.shared, 1 + init.index, 0, 1) !== 0) result = { calledOff: true };
    else {
      const ops = collectOps();
      const ctx: LeafCtx = {
        owners: init.owners, uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, isRoot: process.getuid?.() === 0,
        ops: init.python ? ops : null, report: newReport(), destLen: init.destLen, sources, piece: new Uint8Array(PIECE), scratch: new Uint8Array(0), parts: init.parts,
      };
      let done = 0;
      for (;;) {
        if (done === 1 && init.everyThread) {
          // no second job before every worker holds a first one
          const slot = 1 + init.workers;
          for (let n = Atomics.load(init.shared, slot); n < init.workers; n = Atomics.load(init.shared, slot)) Atomics.wait(init.shared, slot, n, 100);
        }
        const k = Atomics.add(init.shared, 0, 1);
        if (!counted) {
          countIn();
          port.postMessage({ started: true } satisfies FromWorker);
        }
        while (k >= jobs.length && k < total) await new Promise<void>((resolve) => { wake = resolve; });
        if (k >= total) break;
        for (const rec of readJob(jobs[k]!)) restoreLeaf(ctx, rec);
        finishJob(jobs[k]!);
        jobs[k] = null;
        done++;
      }
      result = { report: ctx.report, ops: ops.lines, touchesDirs: ops.touchesDirs, jobs: done };
    }
  } catch (e) {
    result = { error: toPlainError(e) };
    countIn();
  } finally {
    sources.closeAll();
  }
  port.off('message', onMessage);
  port.postMessage(result satisfies FromWorker);
}

void workerMain(workerData as WorkerInit);
