#!/usr/bin/env node
// npm test: Debian oracles, type check, unit tests (node:test via tsx), e2e (Playwright + Debian Chromium).
// Ends with one plain line "N passed, N failed" over everything that ran.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const only = args.filter((a) => a.startsWith('--'));
const filters = args.filter((a) => !a.startsWith('--'));
const want = (k) => only.length === 0 || only.includes(`--${k}`);
const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
// not test-results/: Playwright empties that folder when it starts
mkdirSync('.test-reports', { recursive: true });

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}
function findTests(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

let passed = 0, failed = 0;
const failures = [];

if (want('unit') || want('e2e')) {
  if (run('bash', ['scripts/ensure-deps.sh']) !== 0) { failures.push('deps'); failed++; }
}
if (want('check')) {
  const s = run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  if (s === 0) passed++; else { failed++; failures.push('typecheck'); }
  const sv = run('npx', ['svelte-check', '--tsconfig', './tsconfig.json', '--threshold', 'error', '--output', 'human']);
  if (sv === 0) passed++; else { failed++; failures.push('svelte-check'); }
}
if (want('unit')) {
  let files = findTests('test');
  if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
  const tap = '.test-reports/unit.tap';
  const s = run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files]);
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const p = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0), f = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0);
  passed += p; failed += f;
  if (s !== 0 && f === 0) { failed++; failures.push('unit runner'); }
  if (f) failures.push(`unit (${f})`);
  console.log(`unit: ${p} passed, ${f} failed`);
}
if (want('e2e') && existsSync('playwright.config.ts') && findTests('e2e').length + readdirSync('e2e').filter((n) => n.endsWith('.spec.ts')).length > 0) {
  const json = '.test-reports/e2e.json';
  const s = run('npx', ['playwright', 'test', ...filters], { env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: json } });
  let p = 0, f = 0;
  try {
    const st = JSON.parse(readFileSync(json, 'utf8')).stats;
    p = st.expected + (st.flaky ?? 0); f = st.unexpected;
    if (st.flaky) console.log(`e2e: ${st.flaky} test(s) passed only on retry (flaky)`);
  } catch { f = 1; }
  if (s !== 0 && f === 0) f = 1;
  passed += p; failed += f;
  if (f) failures.push(`e2e (${f})`);
  console.log(`e2e: ${p} passed, ${f} failed`);
}
if (failures.length) console.log(`failed parts: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
