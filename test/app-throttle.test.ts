// The one progress throttle (src/lib/app/throttle.ts) behind the inspector's, a page build's and a
// conversion's progress messages, run on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { throttled } from '../src/lib/app/throttle.ts';
import { throttled as fromTasks } from '../src/lib/app/tasks.ts';

function fake() {
  let t = 1000;
  return { now: () => t, tick: (ms: number) => void (t += ms) };
}

test('throttled: at most one delivery per `ms`, measured from the last delivery', () => {
  const clock = fake();
  const got: [number, number][] = [];
  const f = throttled((i: number) => got.push([clock.now(), i]), { ms: 100, now: clock.now });
  // a call every 7 ms for 1 s
  for (let i = 0; i < 143; i++) {
    f(i);
    clock.tick(7);
  }
  assert.equal(got[0]![1], 0, 'the first call goes out');
  for (let k = 1; k < got.length; k++) assert.ok(got[k]![0] - got[k - 1]![0] >= 100, `deliveries ${k - 1} and ${k} ${got[k]![0] - got[k - 1]![0]} ms apart`);
  // 1001 ms of calls every 7 ms: a delivery on the first call at or past each 100 ms mark (every 15th)
  assert.deepEqual(got.map(([, i]) => i), [0, 15, 30, 45, 60, 75, 90, 105, 120, 135]);
});

test('throttled: the last dropped call is delivered by flush, once; nothing is pending after a delivered call', () => {
  const clock = fake();
  const got: number[] = [];
  const f = throttled((i: number) => got.push(i), { ms: 100, now: clock.now });
  f(1);
  clock.tick(10);
  f(2);
  clock.tick(10);
  f(3);
  assert.deepEqual(got, [1]);
  f.flush();
  assert.deepEqual(got, [1, 3], 'the latest dropped call, not an earlier one');
  f.flush();
  assert.deepEqual(got, [1, 3], 'a flush delivers a pending call once');
  clock.tick(200);
  f(4);
  f.flush();
  assert.deepEqual(got, [1, 3, 4], 'a delivered call leaves nothing pending');
  // a flush counts as a delivery: the next call within `ms` of it waits
  f(5);
  clock.tick(50);
  f.flush();
  f(6);
  assert.deepEqual(got, [1, 3, 4, 5]);
});

test('throttled: a forced report (the predicate: a new layer or stage; or .now(): a phase change) goes out at once and restarts the interval', () => {
  const clock = fake();
  type P = { stage: 'layer' | 'done'; layer: number };
  const got: string[] = [];
  // the conversion's predicate (workers/converter.ts)
  const f = throttled((p: P) => got.push(`${p.stage}${p.layer}`), {
    ms: 80, now: clock.now,
    force: ([p], prev) => p.stage !== 'layer' || prev?.[0].stage !== 'layer' || prev[0].layer !== p.layer,
  });
  f({ stage: 'layer', layer: 0 });
  clock.tick(5);
  f({ stage: 'layer', layer: 0 }); // dropped
  clock.tick(5);
  f({ stage: 'layer', layer: 1 }); // forced: a new layer
  clock.tick(5);
  f({ stage: 'layer', layer: 1 }); // dropped: 5 ms after the forced one
  f({ stage: 'done', layer: 1 }); // forced: a new stage
  assert.deepEqual(got, ['layer0', 'layer1', 'done1']);
  f.flush();
  assert.deepEqual(got, ['layer0', 'layer1', 'done1'], 'the forced call delivered the latest state: nothing pending');

  // the build's phase change (build-job.ts): .now() whatever the time
  const clock2 = fake();
  const seen: number[] = [];
  const r = throttled(() => seen.push(clock2.now()), { ms: 100, now: clock2.now });
  r();
  clock2.tick(30);
  r();
  r.now();
  clock2.tick(30);
  r();
  assert.deepEqual(seen, [1000, 1030], 'the phase change at 30 ms goes out; the call 30 ms after it waits');
  clock2.tick(70);
  r();
  assert.deepEqual(seen, [1000, 1030, 1130]);
});

test('throttled: the inspector still takes it from tasks.ts, 80 ms by default', () => {
  assert.equal(fromTasks, throttled);
  const clock = fake();
  const got: number[] = [];
  const f = fromTasks((i: number) => got.push(i), { now: clock.now });
  for (const i of [0, 79, 80, 159, 160]) {
    clock.tick(i - (clock.now() - 1000));
    f(i);
  }
  assert.deepEqual(got, [0, 80, 160]);
});
