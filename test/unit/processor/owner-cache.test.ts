// The owner's cache of open windows (state/owned-windows.ts, state/cached-partial.ts) across many
// batches: commits applied or refused, windows closed, the cache bound forcing windows out and back
// in. Every batch's absolute values must be what the per-field rules give from the values stored so
// far, kept here as a plain map of hashes (what Redis would hold after the applied commits).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import { CachedPartial } from '../../../processor/src/state/cached-partial.ts';
import { argumentCount, plainArguments } from '../../../processor/src/state/number-pairs.ts';
import { OwnedWindows } from '../../../processor/src/state/owned-windows.ts';
import { FIELD_KIND_SHAPES } from './field-kind-shapes.ts';
import { answeringHgetall } from './hgetall-answers.ts';

const SHAPES = FIELD_KIND_SHAPES;
const GROUPS = ['["a"]', '["b"]', '["c|d"]', '[1]', '["é"]', '[null]'];
const WINDOW = 10;
const PREFIX = 'kf:{t:1:0}';

/** Answers the owner's HGETALL of a window hash from the stored hashes. */
const storedIn = (store: Map<string, Map<string, string>>) =>
  answeringHgetall((key) => Object.fromEntries(store.get(key) ?? []));

interface Rec {
  group: number;
  time: number;
  value: number;
}

/** The fields a batch writes to one window, by the per-field rules, from what is stored. */
function expectedWrites(records: readonly Rec[], stored: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  const byGroup = new Map<string, Rec[]>();
  for (const r of records) byGroup.set(GROUPS[r.group]!, [...(byGroup.get(GROUPS[r.group]!) ?? []), r]);
  for (const [g, rs] of byGroup) {
    const add = (field: string, batch: number) =>
      out.set(field, String(Number(stored.get(field) ?? 0) + batch));
    let sum = rs[0]!.value;
    for (const r of rs.slice(1)) sum += r.value;
    add(`n|${g}`, rs.length);
    add(`total|${g}`, sum);
    add(`mean#s|${g}`, sum);
    add(`mean#n|${g}`, rs.length);
    const lo = Math.min(...rs.map((r) => r.value));
    const hi = Math.max(...rs.map((r) => r.value));
    if (!stored.has(`lo|${g}`) || lo < Number(stored.get(`lo|${g}`))) out.set(`lo|${g}`, String(lo));
    if (!stored.has(`hi|${g}`) || hi > Number(stored.get(`hi|${g}`))) out.set(`hi|${g}`, String(hi));
    // first: the earliest time, the first record of it; last: the latest, the last record of it
    let first = rs[0]!;
    let last = rs[0]!;
    for (const r of rs) {
      if (r.time < first.time) first = r;
      if (r.time >= last.time) last = r;
    }
    const firstAt = stored.get(`firstItem#t|${g}`);
    if (firstAt === undefined || first.time < Number(firstAt)) {
      out.set(`firstItem|${g}`, `v${first.value}`);
      out.set(`firstItem#t|${g}`, String(first.time));
    }
    const lastAt = stored.get(`lastItem#t|${g}`);
    if (lastAt === undefined || last.time >= Number(lastAt)) {
      out.set(`lastItem|${g}`, `v${last.value}`);
      out.set(`lastItem#t|${g}`, String(last.time));
    }
  }
  return out;
}

const recordArb = fc.record({
  group: fc.nat({ max: GROUPS.length - 1 }),
  time: fc.nat({ max: 39 }),
  // whole numbers and halves: sums exact in any order
  value: fc.integer({ min: -2000, max: 2000 }).map((v) => v / 2),
});
const batchArb = fc.record({
  records: fc.array(recordArb, { minLength: 1, maxLength: 25 }),
  outcome: fc.constantFrom('applied', 'applied', 'applied', 'refused'),
  /** window starts the commit closes (the owner forgets them; a later record re-reads them) */
  closes: fc.subarray([0, 10, 20, 30]),
});

describe('the owner cache over many batches', () => {
  it('stages the values the stored hashes and the batch give, across refusals, closes and evictions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(batchArb, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 4, max: 400 }),
        async (batches, maxCachedFields) => {
          const store = new Map<string, Map<string, string>>();
          const redis = storedIn(store);
          const owner = new OwnedWindows(maxCachedFields);
          for (const { records, outcome, closes } of batches) {
            const fold = new BatchFold(SHAPES);
            for (const r of records) {
              const start = Math.floor(r.time / WINDOW) * WINDOW;
              const args = SHAPES.map((s) =>
                s.kind === 'count'
                  ? undefined
                  : s.kind === 'first' || s.kind === 'last'
                    ? `v${r.value}`
                    : r.value,
              );
              fold.add(fold.window(start, start + WINDOW), GROUPS[r.group]!, r.time, fold.prepare(args));
            }
            await owner.load(redis, PREFIX, fold);
            const staged = owner.stage(fold);
            for (const delta of fold.deltas()) {
              const key = `${PREFIX}:${delta.key}`;
              const pairs = plainArguments(staged.get(delta.key)!);
              expect(argumentCount(staged.get(delta.key)!)).toBe(pairs.length);
              const got = new Map<string, string>();
              for (let i = 0; i < pairs.length; i += 2) got.set(pairs[i] as string, pairs[i + 1] as string);
              expect(got.size * 2).toBe(pairs.length);
              const mine = records.filter((r) => Math.floor(r.time / WINDOW) * WINDOW === delta.start);
              expect(got).toEqual(expectedWrites(mine, store.get(key) ?? new Map()));
            }
            if (outcome === 'refused') {
              owner.discard();
              continue;
            }
            for (const delta of fold.deltas()) {
              const key = `${PREFIX}:${delta.key}`;
              const hash = store.get(key) ?? new Map<string, string>();
              const pairs = plainArguments(staged.get(delta.key)!);
              for (let i = 0; i < pairs.length; i += 2) hash.set(pairs[i] as string, pairs[i + 1] as string);
              store.set(key, hash);
            }
            owner.applied(closes);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('CachedPartial', () => {
  it('keeps counts, sums, min and max as numbers by group and every other field by name', () => {
    const partial = new CachedPartial(0, ['n|', 'mean#s|']);
    partial.set('n|["a"]', '3');
    partial.set('mean#s|["a|b"]', '2.5');
    partial.set('firstItem|["a"]', 'x');
    partial.set('gone|["a"]', '7');
    expect(partial.size).toBe(4);
    expect(partial.has('n|', '["a"]')).toBe(true);
    expect(partial.has('n|', '["a|b"]')).toBe(false);
    expect(partial.has('mean#s|', '["a|b"]')).toBe(true);
    expect(partial.has('firstItem|', '["a"]')).toBe(true);
    expect(partial.has('gone|', '["b"]')).toBe(false);
    const [a, ab, c] = partial.slotsOf(['["a"]', '["a|b"]', '["c"]']);
    const counts = partial.column('n|')!;
    expect([counts[a!], counts[ab!], counts[c!]]).toEqual([3, Number.NaN, Number.NaN]);
    expect(partial.column('mean#s|')![ab!]).toBe(2.5);
    expect(partial.column('firstItem|')).toBeUndefined();
    // a new group's slot stores nothing until a value is set
    expect(partial.size).toBe(4);
    partial.setNumber(counts, c!, 1);
    partial.setNumber(counts, c!, 2);
    expect(partial.size).toBe(5);
    expect(partial.has('n|', '["c"]')).toBe(true);
  });

  it('keeps packed sketches by group when its owner packs them, and counts them', () => {
    const partial = new CachedPartial(0, ['n|'], ['users#h|', 'p95#d|']);
    partial.set('users#h|["a"]', Buffer.from([1, 2]));
    partial.set('p95#d|["b"]', 'p1:2');
    partial.set('n|["a"]', '1');
    expect(partial.size).toBe(3);
    expect(partial.fields.size).toBe(0);
    expect(partial.has('users#h|', '["a"]')).toBe(true);
    expect(partial.has('users#h|', '["b"]')).toBe(false);
    expect(partial.has('p95#d|', '["b"]')).toBe(true);
    const [a, b, c] = partial.slotsOf(['["a"]', '["b"]', '["c"]']);
    const sketches = partial.packedColumn('p95#d|')!;
    expect([sketches[a!], sketches[b!], sketches[c!]]).toEqual([undefined, 'p1:2', undefined]);
    expect(partial.packedColumn('users#h|')![a!]).toEqual(Buffer.from([1, 2]));
    expect(partial.packedColumn('n|')).toBeUndefined();
    partial.setPacked(sketches, c!, 'p3:1');
    partial.setPacked(sketches, c!, 'p3:2');
    expect(partial.size).toBe(4);
    expect(partial.has('p95#d|', '["c"]')).toBe(true);
  });
});
