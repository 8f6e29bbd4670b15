// A real drop of files or folders from disk: Chromium's DevTools protocol drags them onto the page
// (a DataTransfer built in the page cannot carry folders, so this is how a folder drop is tested).
import type { Page } from '@playwright/test';

/** Drags `paths` in and drops them at (x, y), by default the middle of a 1280×600 view. */
export async function dropPaths(page: Page, paths: string[], at = { x: 640, y: 300 }): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: paths, dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop'] as const) await cdp.send('Input.dispatchDragEvent', { type, ...at, data });
  await cdp.detach();
}
