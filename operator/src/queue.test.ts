import { describe, expect, it } from 'vitest';
import { RateLimiter, WorkQueue } from './queue.ts';

describe('WorkQueue', () => {
  it('deduplicates keys and never hands one key to two workers', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a'); // changed while processing: not handed out again until done
    expect(await q.get()).toBe('b');
    let got: string | undefined;
    const pending = q.get().then((k) => (got = k));
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toBeUndefined();
    q.done('a');
    await pending;
    expect(got).toBe('a');
    q.shutdown();
    expect(await q.get()).toBeUndefined();
  });
  it('addAfter delays, and the earlier of two pending adds wins', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 200);
    q.addAfter('k', 20);
    const t = Date.now();
    expect(await q.get()).toBe('k');
    expect(Date.now() - t).toBeLessThan(150);
    q.shutdown();
  });
});

describe('RateLimiter', () => {
  it('backs off exponentially per key up to the max and forgets on success', () => {
    const r = new RateLimiter({ baseDelayMs: 100, maxDelayMs: 1000, qps: 1000, burst: 1000 });
    expect([r.when('a'), r.when('a'), r.when('a'), r.when('a'), r.when('a')]).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect(r.when('b')).toBe(100);
    r.forget('a');
    expect(r.when('a')).toBe(100);
  });
  it('limits the overall retry rate with a token bucket', () => {
    let now = 0;
    const r = new RateLimiter({ baseDelayMs: 1, qps: 10, burst: 2 }, () => now);
    expect(r.when('a')).toBe(1);
    expect(r.when('b')).toBe(1);
    expect(r.when('c')).toBeCloseTo(100);
    now = 1000;
    expect(r.when('d')).toBe(1);
  });
});
