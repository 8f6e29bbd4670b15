import { expect, type test as base } from '@playwright/test';

/**
 * Every test of the file fails if the page logs a console error or throws (collected per test).
 * `ignore` names console errors a test provokes on purpose (a refused policy, a stopped server).
 */
export function failOnPageErrors(test: typeof base, ignore?: RegExp): void {
  let problems: string[] = [];
  test.beforeEach(({ page }) => {
    problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !ignore?.test(m.text())) problems.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  });
  test.afterEach(() => {
    expect(problems).toEqual([]);
  });
}
