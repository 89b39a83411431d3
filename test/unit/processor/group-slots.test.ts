// The fold keeps counts, sums, min/max, averages and first/last per group slot (aggregates/fold.ts);
// the owner builds field names at commit. Checked against the per-field rules written out plainly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchFold } from '../../../processor/src/aggregates/fold.ts';
import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';
import { plainArguments } from '../../../processor/src/state/number-pairs.ts';
import { OwnedWindows } from '../../../processor/src/state/owned-windows.ts';
import { totalsOf } from '../../../processor/src/state/rollup-totals.ts';
import { FIELD_KIND_SHAPES } from './field-kind-shapes.ts';
import { answeringHgetall } from './hgetall-answers.ts';

const SHAPES = FIELD_KIND_SHAPES;
const GROUPS = ['["a"]', '["b"]', '["c|d"]', '[1]', '["é"]'];

/** A Redis client whose one pipeline answers HGETALL with the given stored hash. */
const storing = (stored: Record<string, string>) => answeringHgetall(() => stored);

interface Record_ {
  group: number;
  value: number;
  time: number;
}

/** The absolute values the owner should write: each field's rule applied record by record. */
function expectedAbsolute(shapes: AggregateShape[], records: Record_[], stored: Record<string, string>) {
  const values = new Map<string, string>(Object.entries(stored));
  const written = new Map<string, string>();
  const set = (field: string, value: string) => {
    values.set(field, value);
    written.set(field, value);
  };
  // Per record in offset order; a batch then writes the final value of each touched field.
  const batch = new Map<string, number>();
  const timed = new Map<string, { time: number; value: string }>();
  for (const r of records) {
    const g = GROUPS[r.group]!;
    for (const shape of shapes) {
      const f = `${shape.name}|${g}`;
      switch (shape.kind) {
        case 'count':
          batch.set(f, (batch.get(f) ?? 0) + 1);
          break;
        case 'sum':
          batch.set(f, (batch.get(f) ?? 0) + r.value);
          break;
        case 'min':
          if (!batch.has(f) || r.value < batch.get(f)!) batch.set(f, r.value);
          break;
        case 'max':
          if (!batch.has(f) || r.value > batch.get(f)!) batch.set(f, r.value);
          break;
        case 'avg':
          batch.set(`${shape.name}#s|${g}`, (batch.get(`${shape.name}#s|${g}`) ?? 0) + r.value);
          batch.set(`${shape.name}#n|${g}`, (batch.get(`${shape.name}#n|${g}`) ?? 0) + 1);
          break;
        case 'first': {
          const current = timed.get(f);
          if (!current || r.time < current.time) timed.set(f, { time: r.time, value: `v${r.value}` });
          break;
        }
        case 'last': {
          const current = timed.get(f);
          if (!current || r.time >= current.time) timed.set(f, { time: r.time, value: `v${r.value}` });
          break;
        }
      }
    }
  }
  for (const [field, v] of batch) {
    const kind = shapes.find((s) => field.startsWith(`${s.name}|`) || field.startsWith(`${s.name}#`))!.kind;
    const old = values.get(field);
    if (kind === 'min' || kind === 'max') {
      if (old === undefined || (kind === 'min' ? v < Number(old) : v > Number(old))) set(field, String(v));
    } else set(field, String(Number(old ?? 0) + v));
  }
  for (const [field, { time, value }] of timed) {
    const kind = shapes.find((s) => field.startsWith(`${s.name}|`))!.kind;
    const timeField = field.replace('|', '#t|');
    const old = values.get(timeField);
    if (old === undefined || (kind === 'first' ? time < Number(old) : time >= Number(old))) {
      set(field, value);
      set(timeField, String(time));
    }
  }
  return { written, batch, timed };
}

const shapesArb = fc.subarray(SHAPES, { minLength: 1 });
const recordsArb = fc.array(
  fc.record({
    group: fc.nat(GROUPS.length - 1),
    value: fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
    time: fc.integer({ min: 0, max: 9 }),
  }),
  { minLength: 1, maxLength: 40 },
);

describe('group slots of a batch', () => {
  it('give the absolute values and totals the per-field rules give (property)', async () => {
    await fc.assert(
      fc.asyncProperty(shapesArb, recordsArb, fc.nat(), async (shapes, records, seed) => {
        // some fields already stored, as a window the owner read from Redis
        const stored: Record<string, string> = {};
        GROUPS.forEach((g, i) => {
          if ((seed >> i) & 1) return;
          for (const s of shapes) {
            if (s.kind === 'avg') {
              stored[`${s.name}#s|${g}`] = String(i * 3.5);
              stored[`${s.name}#n|${g}`] = String(i + 1);
            } else if (s.kind === 'first' || s.kind === 'last') {
              stored[`${s.name}|${g}`] = `stored${i}`;
              stored[`${s.name}#t|${g}`] = String(i * 2);
            } else stored[`${s.name}|${g}`] = String(i - 2);
          }
        });
        const fold = new BatchFold(shapes);
        const delta = fold.window(0, 10);
        for (const r of records) {
          const args = shapes.map((s) =>
            s.kind === 'count'
              ? undefined
              : s.kind === 'first' || s.kind === 'last'
                ? `v${r.value}`
                : r.value,
          );
          fold.add(delta, GROUPS[r.group]!, r.time, fold.prepare(args));
        }
        const owner = new OwnedWindows();
        await owner.load(storing(stored), 'kf:{t:1:0}', fold);
        const pairs = plainArguments(owner.stage(fold).get(delta.key)!);
        const got = new Map<string, string>();
        for (let i = 0; i < pairs.length; i += 2) {
          expect(got.has(pairs[i] as string)).toBe(false);
          got.set(pairs[i] as string, pairs[i + 1] as string);
        }
        const { written, batch, timed } = expectedAbsolute(shapes, records, stored);
        expect(got).toEqual(written);

        // the write-side totals: per head, the sum / extreme / earliest or latest of the batch's values
        const totals = totalsOf(delta);
        const pairsOf = (list: readonly (string | number)[], n = 2) => {
          const out = new Map<string, (string | number)[]>();
          for (let i = 0; i < list.length; i += n) out.set(String(list[i]), list.slice(i + 1, i + n));
          return out;
        };
        const heads = (which: (kind: string, part: string) => boolean) => {
          const out = new Map<string, number[]>();
          for (const [field, v] of batch) {
            const head = field.slice(0, field.indexOf('|') + 1);
            const name = head.split(/[#|]/)[0]!;
            const kind = shapes.find((s) => s.name === name)!.kind;
            if (!which(kind, head.includes('#n') ? 'n' : '')) continue;
            out.set(head, [...(out.get(head) ?? []), v]);
          }
          return out;
        };
        const added = (kinds: (kind: string, part: string) => boolean, asText: boolean) =>
          new Map(
            [...heads(kinds)].map(([h, vs]) => {
              const total = vs.reduce((a, b) => a + b, 0);
              return [h, [asText ? String(total) : total]];
            }),
          );
        expect(pairsOf(totals.i)).toEqual(
          added((k, p) => k === 'count' || (k === 'avg' && p === 'n'), false),
        );
        expect(pairsOf(totals.f)).toEqual(added((k, p) => k === 'sum' || (k === 'avg' && p === ''), true));
        const extreme = (kind: 'min' | 'max') =>
          new Map(
            [...heads((k) => k === kind)].map(([h, vs]) => [
              h,
              [String(kind === 'min' ? Math.min(...vs) : Math.max(...vs))],
            ]),
          );
        expect(pairsOf(totals.mn)).toEqual(extreme('min'));
        expect(pairsOf(totals.mx)).toEqual(extreme('max'));
        for (const kind of ['first', 'last'] as const) {
          const list = pairsOf(kind === 'first' ? totals.fi : totals.la, 3);
          for (const shape of shapes.filter((s) => s.kind === kind)) {
            const entries = [...timed].filter(([f]) => f.startsWith(`${shape.name}|`)).map(([, e]) => e);
            const best = entries.reduce((a, b) =>
              kind === 'first' ? (b.time < a.time ? b : a) : b.time >= a.time ? b : a,
            );
            expect(list.get(`${shape.name}|`)).toEqual([String(best.time), best.value]);
          }
        }
        expect([...totals.g].sort()).toEqual([...new Set(records.map((r) => GROUPS[r.group]!))].sort());
      }),
      { numRuns: 500 },
    );
  });
});
