// Cancellable work behind a worker boundary (workers/inspector.ts): tasks by token, and progress
// callbacks throttled so a fast loop does not flood the page with messages.

/** Running tasks by token; a new task of a token cancels the one running under it. */
export class Tasks {
  private readonly running = new Map<string, AbortController>();

  /** `f` as the task `token`, with the signal that cancels it */
  async run<T>(token: string, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.running.get(token)?.abort();
    const c = new AbortController();
    this.running.set(token, c);
    try {
      return await f(c.signal);
    } finally {
      if (this.running.get(token) === c) this.running.delete(token);
    }
  }

  cancel(token: string, reason: unknown = new DOMException('cancelled', 'AbortError')): void {
    this.running.get(token)?.abort(reason);
  }
}

/** `f` called at most once per `ms` milliseconds; calls in between are dropped. */
export function throttled<A extends unknown[]>(f: (...a: A) => void, ms = 80): (...a: A) => void {
  let last = 0;
  return (...a) => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    f(...a);
  };
}
