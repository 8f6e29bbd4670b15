// The LRU map against a plain model (an array in recency order) under random gets, sets and
// re-sets with costs, including long runs of evictions that leave many holes in the Map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lru } from '../src/lib/lru.ts';

test('Lru keeps exactly the most recently used entries within its cost, over 200,000 random operations', () => {
  let x = 12345;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) % n);
  for (const [max, keys, costly] of [[50, 200, false], [1000, 5000, true], [1, 10, false]] as const) {
    const lru = new Lru<number, string>(max);
    const model: { k: number; v: string; cost: number }[] = []; // oldest first
    const evict = () => {
      let total = model.reduce((s, e) => s + e.cost, 0);
      while (total > max && model.length > 1) total -= model.shift()!.cost;
    };
    for (let i = 0; i < 200_000 / 3; i++) {
      const k = rnd(keys);
      if (rnd(3) === 0) {
        const at = model.findIndex((e) => e.k === k);
        const want = at < 0 ? undefined : model[at]!.v;
        if (at >= 0) model.push(...model.splice(at, 1));
        assert.equal(lru.get(k), want, `get ${k}`);
      } else {
        const cost = costly ? 1 + rnd(40) : 1;
        const at = model.findIndex((e) => e.k === k);
        if (at >= 0) model.splice(at, 1);
        model.push({ k, v: `v${i}`, cost });
        evict();
        lru.set(k, `v${i}`, cost);
      }
      assert.equal(lru.size, model.length);
      assert.equal(lru.cost, model.reduce((s, e) => s + e.cost, 0));
    }
    for (const e of model) assert.equal(lru.get(e.k), e.v);
    lru.clear();
    assert.equal(lru.size, 0);
    assert.equal(lru.cost, 0);
    lru.set(1, 'a');
    assert.equal(lru.get(1), 'a');
  }
});
