// A requestAnimationFrame heartbeat in the page: every frame's gap to the previous one is recorded, so
// a test can assert that the main thread never stalled for longer than a bound while it worked.
import type { Page } from '@playwright/test';

interface Beat {
  gaps: number[];
  on: boolean;
}

/**
 * Runs the frame loop: `fresh` starts a new record, else the current one (if any) resumes with its
 * gaps kept and the pause itself not counted: the first frame after it only sets the time base.
 */
function beat(page: Page, fresh: boolean): Promise<void> {
  return page.evaluate((fresh) => {
    const w = window as unknown as { __beat?: Beat };
    if (w.__beat) w.__beat.on = false;
    if (fresh) w.__beat = { gaps: [], on: true };
    const record = w.__beat;
    if (!record) return; // nothing to resume
    record.on = true;
    let last = -1;
    const tick = (t: number) => {
      if (!record.on) return;
      if (last >= 0) record.gaps.push(t - last);
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, fresh);
}

/** Starts (or restarts) recording frame gaps. */
export function startHeartbeat(page: Page): Promise<void> {
  return beat(page, true);
}

/**
 * A screenshot while the heartbeat runs, without the gap it causes: capturing a frame holds rendering
 * itself, so the heartbeat is suspended around it (the gaps so far are kept).
 */
export async function screenshotBetweenBeats(page: Page, path: string): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __beat?: Beat };
    if (w.__beat) w.__beat.on = false;
  });
  await page.screenshot({ path });
  await beat(page, false);
}

/** Stops recording and returns the frame gaps (ms) since startHeartbeat. */
export async function stopHeartbeat(page: Page): Promise<{ frames: number; max: number; p99: number; over50: number }> {
  const gaps = await page.evaluate(() => {
    const w = window as unknown as { __beat?: Beat };
    if (!w.__beat) return [];
    w.__beat.on = false;
    return w.__beat.gaps;
  });
  const sorted = [...gaps].sort((a, b) => a - b);
  return {
    frames: gaps.length,
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
    p99: sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]! : 0,
    over50: gaps.filter((g) => g > 50).length,
  };
}

export const fmt = (b: { frames: number; max: number; p99: number; over50: number }) =>
  `max frame gap ${b.max.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms, ${b.over50} of ${b.frames} frames over 50 ms`;
