// Hostile-input sweep (security): "extraction never writes outside its destination, and no input
// crashes, hangs or exhausts memory". Thousands of seeded mutations of every input kind (EROFS by
// mkfs.erofs 1.5 and 1.9.3, composefs, RAFS v5/v6 with and without blobs, the blobs, the ToC blob,
// tar, tar.gz, composefs dumps, hand-made hostile inputs), each opened like the CLI opens a file,
// extracted with the CLI's extractor beside a canary, exported as tar and checked, in child
// processes with a per-variant watchdog and memory bound (test/helpers/hostile.ts).
//
// Rerun some variants alone, with each one's steps printed:
//   HOSTILE_ONLY='erofs-1.5/lz4hc#12,tar/hostile-dotdot#0' node --import tsx --test test/hostile-sweep.test.ts
// HOSTILE_SCALE=0.2 runs a fifth of the variants; HOSTILE_REPORT=FILE writes the whole report as JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_COUNTS, makeTar, prepareCorpus, runHostileSweep, summarizeFindings, type CorpusCounts, type SweepOptions, type Target } from './helpers/hostile.ts';
import { tempDir } from './helpers/paths.ts';

const only = process.env.HOSTILE_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const scale = Number(process.env.HOSTILE_SCALE ?? '1');
const counts = Object.fromEntries(Object.entries(DEFAULT_COUNTS).map(([k, v]) => [k, Math.max(1, Math.round(v * scale))])) as unknown as CorpusCounts;

test('hostile inputs: no escape, crash, hang or blowup over 5000+ variants', { timeout: 30 * 60_000 }, async (t) => {
  const dir = tempDir('ls-hostile-corpus-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wanted = only ? new Set(only.map((l) => l.replace(/#\d+$/, ''))) : undefined;
  const targets = await prepareCorpus(dir, counts, wanted);
  if (only) assert.ok(targets.length > 0, `no target named in HOSTILE_ONLY=${process.env.HOSTILE_ONLY}`);
  const r = await runHostileSweep(targets, {
    ...(only ? { only } : {}),
    // a hang detector, not a speed bound: the slowest variant takes ~6 s on a quiet machine (an all-fragments LZMA image), and CI must pass on a busy one
    timeoutMs: Number(process.env.HOSTILE_TIMEOUT_MS ?? 60_000),
    onResult: only ? (x) => console.log(`# ${x.label}: ${x.mutation}; steps ${JSON.stringify(x.steps)}${x.extracted ? ` extracted ${JSON.stringify(x.extracted)}` : ''}${Object.keys(x.messages).length ? ` errors ${JSON.stringify(x.messages)}` : ''}; ${x.ms} ms ${JSON.stringify(x.stepMs)}; maxRSS +${((x.rssAfter - x.rssBefore) / 1048576).toFixed(1)} MiB${x.crash ? `\n${x.crash.error}` : ''}${x.escape ? `\nescape: ${x.escape.join('\n')}` : ''}`) : undefined,
  });
  if (process.env.HOSTILE_REPORT) {
    mkdirSync(dirname(process.env.HOSTILE_REPORT), { recursive: true });
    writeFileSync(process.env.HOSTILE_REPORT, JSON.stringify(r, null, 1));
  }
  console.log(`# ${r.variants} variants of ${targets.length} targets in ${(r.ms / 1000).toFixed(1)} s (${r.childStarts} children): ${r.opened} opened, ${r.extracted} extracted to the end; max maxRSS growth ${(r.maxRssGrowth.bytes / 1048576).toFixed(1)} MiB (${r.maxRssGrowth.label})`);
  console.log(`# typed errors by step: ${JSON.stringify(r.typed)}`);
  console.log(`# slowest: ${r.slowest.slice(0, 5).map((s) => `${s.label} ${s.ms} ms`).join(', ')}`);
  for (const line of summarizeFindings(r.findings).split('\n').filter(Boolean)) console.log(`# ${line}`);

  if (!only) {
    assert.ok(r.variants >= 5000 * Math.min(1, scale), `${r.variants} variants`);
    // the inputs must reach past open and through the extractor, or the sweep proves little
    assert.ok(r.opened >= r.variants * 0.4, `${r.opened} of ${r.variants} opened`);
    assert.ok(r.extracted >= r.variants * 0.2, `${r.extracted} of ${r.variants} extracted`);
    const families = new Set(targets.map((t) => t.name.split('/')[0]));
    for (const f of ['erofs-1.5', 'erofs-1.9', 'composefs', 'composefs-built', 'rafs-v5', 'rafs-v6', 'rafs-blob', 'tar', 'targz', 'dump']) assert.ok(families.has(f), `no ${f} targets`);
  }
  assert.equal(r.findings.length, 0, `hostile-input findings (rerun one with HOSTILE_ONLY=LABEL):\n${summarizeFindings(r.findings)}`);
});

test('the sweep harness detects an escape, a crash, a hang and a blowup', { skip: !!only, timeout: 5 * 60_000 }, async (t) => {
  const dir = tempDir('ls-hostile-self-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'ok.tar');
  writeFileSync(p, makeTar([{ name: 'a', data: 'hello' }, { name: 'd/', type: '5', mode: 0o755 }, { name: 'd/l', type: '2', link: '../a' }]));
  const target: Target = { name: 'selftest/tar', image: { path: p, name: 'ok.tar' }, extras: [], mutate: -1, variants: 2, fixup: 'tar', tarHeaders: [0, 1024, 1536] };
  const run = (fake?: SweepOptions['fake'], extra: SweepOptions = {}) => runHostileSweep([target], { children: 1, ...(fake ? { fake } : {}), ...extra });

  // the same input without a fake: nothing to report (the detectors do not fire on their own)
  const clean = await run();
  assert.equal(clean.variants, 2);
  assert.deepEqual(clean.findings, [], summarizeFindings(clean.findings));
  assert.ok(clean.extracted >= 1, JSON.stringify(clean));

  for (const fake of ['escape-canary', 'escape-beside', 'escape-workdir'] as const) {
    const r = await run(fake);
    assert.equal(r.findings.filter((f) => f.verdict === 'escape').length, 2, `${fake}: ${summarizeFindings(r.findings)}`);
  }
  const crash = await run('crash');
  assert.equal(crash.findings.filter((f) => f.verdict === 'crash' && f.detail.includes('TypeError')).length, 2, summarizeFindings(crash.findings));

  const hang = await run('hang', { timeoutMs: 2000 });
  assert.deepEqual(hang.findings.map((f) => `${f.label} ${f.verdict}`), ['selftest/tar#0 hang', 'selftest/tar#1 hang']);
  assert.equal(hang.variants, 2);
  assert.ok(hang.childStarts >= 2, 'a new child after the hang');

  const blowup = await run('blowup');
  assert.equal(blowup.findings.filter((f) => f.verdict === 'blowup').length, 2, summarizeFindings(blowup.findings));
  const oom = await run('oom', { maxOldSpaceMb: 64 });
  assert.deepEqual(oom.findings.map((f) => f.verdict), ['blowup', 'blowup'], summarizeFindings(oom.findings));
});
