// Progress callbacks throttled so a fast loop does not flood the page with messages (one worker
// message per call): the inspector's check and tar export (tasks.ts), a page build's progress
// (build-job.ts) and a conversion's (workers/converter.ts).
//
// No timer delivers a dropped call later: a late message could land after the task's result and
// overwrite what the page shows for it (ImagePane's export detail). The caller flushes instead.

export interface ThrottleOptions<A extends unknown[]> {
  /** milliseconds between two deliveries (default 80) */
  ms?: number;
  /** a call that goes out at once whatever the time (a new phase, a new layer); `prev` is the previous call's arguments */
  force?: (a: A, prev: A | undefined) => boolean;
  /** the clock, in milliseconds (default performance.now); tests pass a fake one */
  now?: () => number;
}

export interface Throttled<A extends unknown[]> {
  /** delivered when `ms` has passed since the last delivery, or when `force` says so; dropped otherwise (kept as pending) */
  (...a: A): void;
  /** delivered at once (a forced report), whatever the time */
  now(...a: A): void;
  /** the last dropped call, delivered now if one is pending (call it when the work ends) */
  flush(): void;
}

/** `f` called at most once per `ms` milliseconds, except forced calls; the last dropped call is kept for `flush`. */
export function throttled<A extends unknown[]>(f: (...a: A) => void, opts: ThrottleOptions<A> = {}): Throttled<A> {
  const ms = opts.ms ?? 80;
  const clock = opts.now ?? (() => performance.now());
  let last = -Infinity;
  let prev: A | undefined;
  let pending: A | null = null;
  const deliver = (a: A, t: number): void => {
    last = t;
    pending = null;
    f(...a);
  };
  const t = ((...a: A): void => {
    const p = prev;
    prev = a;
    const now = clock();
    if (now - last >= ms || opts.force?.(a, p)) deliver(a, now);
    else pending = a;
  }) as Throttled<A>;
  t.now = (...a: A): void => {
    prev = a;
    deliver(a, clock());
  };
  t.flush = (): void => {
    if (pending) deliver(pending, clock());
  };
  return t;
}
