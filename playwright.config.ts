import { defineConfig } from '@playwright/test';

// e2e runs against the production build (vite build + vite preview), never the dev server:
// the dev server re-optimises dependencies on first load and reloads the page mid-test.
export default defineConfig({
  testDir: 'e2e',
  timeout: 60_000,
  workers: 1,
  // one retry in CI: the 100 ms frame-gap bound of the hex-view heartbeat test is met with room on a
  // quiet machine (50-67 ms measured) but a 2-core VM can stall a frame; a retried pass is reported as flaky
  retries: process.env.CI ? 1 : 0,
  // scripts/test.mjs sets PLAYWRIGHT_JSON_OUTPUT_NAME to collect the counts
  reporter: process.env.PLAYWRIGHT_JSON_OUTPUT_NAME ? [['list'], ['json']] : [['list']],
  webServer: {
    command: 'npm run build && npm run preview',
    url: 'http://localhost:4173',
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
  },
  use: {
    baseURL: 'http://localhost:4173',
    browserName: 'chromium',
    acceptDownloads: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
});
