import { expect, type test as base } from '@playwright/test';

/** Every test of the file fails if the page logs a console error or throws (collected per test). */
export function failOnPageErrors(test: typeof base): void {
  let problems: string[] = [];
  test.beforeEach(({ page }) => {
    problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  });
  test.afterEach(() => {
    expect(problems).toEqual([]);
  });
}
