// Cancellable work behind a worker boundary (workers/inspector.ts): tasks by token.

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

// the inspector's progress callbacks are throttled (one worker message per call): throttle.ts
export { throttled } from './throttle.ts';
