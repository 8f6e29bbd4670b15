// `layerscope build --format composefs` on every upstream composefs asset, run as a user runs it:
// dumps are parsed as mkcomposefs 1.0.8 parses them, lenient unless CFS_PARSE_STRICT is in the
// environment (any value) or --strict is given. Every expected value comes from the fixtures.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { assetPath, assetsWithDump, assetVersion, expectedSha256, lenientAssets, summaryDigests } from './helpers/composefs-assets.ts';
import { REPO, tempDir } from './helpers/paths.ts';

const CLI = join(REPO, 'bin/layerscope.mjs');
const tmp = tempDir('ls-cfs-cli-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** the environment without CFS_PARSE_STRICT, plus `extra` */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = { ...process.env, ...extra };
  if (!('CFS_PARSE_STRICT' in extra)) delete e.CFS_PARSE_STRICT;
  return e;
}

let n = 0;
/** `layerscope build --format composefs ASSET OUT [--min-version V --max-version V] ...args` */
function build(name: string, args: string[], environment: NodeJS.ProcessEnv) {
  const out = join(tmp, `${n++}.cfs`);
  const v = assetVersion(name);
  const versionArgs = v === undefined ? [] : ['--min-version', String(v), '--max-version', String(v)];
  const r = spawnSync(process.execPath, [CLI, 'build', '--format', 'composefs', ...versionArgs, ...args, '--json', assetPath(name), out], { env: environment, encoding: 'utf8' });
  const result = { status: r.status, stderr: r.stderr, stdout: r.stdout, sha256: '', digest: '' };
  if (r.status === 0) {
    result.sha256 = createHash('sha256').update(readFileSync(out)).digest('hex');
    result.digest = (JSON.parse(r.stdout) as { digest: string }).digest;
    rmSync(out);
  }
  return result;
}

const assets = assetsWithDump();
const lenient = lenientAssets();
const digests = summaryDigests();

test('the fixtures hold 14 assets with a dump, 3 of them built without CFS_PARSE_STRICT', () => {
  assert.equal(assets.length, 14, assets.join(' '));
  assert.equal(lenient.size, 3);
  for (const name of lenient) assert.ok(assets.includes(name), `${name} (README.txt) has no dump`);
});

describe('default (no CFS_PARSE_STRICT): every asset gives the sha256 and fs-verity digest mkcomposefs gives', () => {
  for (const name of assets) {
    test(name, { timeout: 120_000 }, () => {
      const r = build(name, [], env());
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.sha256, expectedSha256(name));
      assert.equal(r.digest, digests.get(name));
    });
  }
});

describe('CFS_PARSE_STRICT set, as tests/test-checksums.sh sets it: the same images', () => {
  for (const name of assets.filter((a) => !lenient.has(a))) {
    test(name, { timeout: 120_000 }, () => {
      const r = build(name, [], env({ CFS_PARSE_STRICT: '1' }));
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.sha256, expectedSha256(name));
    });
  }
});

describe('strict mode refuses the lenient assets as a damaged input (exit 3) naming the line', () => {
  const modes: [string, string[], NodeJS.ProcessEnv][] = [
    ['CFS_PARSE_STRICT=1', [], env({ CFS_PARSE_STRICT: '1' })],
    // mkcomposefs tests getenv() != NULL: an empty value is set too
    ['CFS_PARSE_STRICT=', [], env({ CFS_PARSE_STRICT: '' })],
    ['--strict', ['--strict'], env()],
  ];
  for (const name of lenient) {
    for (const [label, args, environment] of modes) {
      test(`${name} with ${label}`, () => {
        const r = build(name, args, environment);
        assert.equal(r.status, 3, `${r.status}: ${r.stderr}`);
        assert.match(r.stderr, /FormatError: composefs\.dump at byte \d+: line \d+: /);
      });
    }
  }
});

test('other commands read a dump leniently too, and strictly with --strict', () => {
  const name = [...lenient].sort()[0]!;
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'ls', assetPath(name), '/', ...args], { env: env(), encoding: 'utf8' });
  const lax = run([]);
  assert.equal(lax.status, 0, lax.stderr);
  assert.ok(lax.stdout.length > 0);
  assert.equal(run(['--strict']).status, 3);
});
