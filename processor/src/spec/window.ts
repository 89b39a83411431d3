// `spec.window`: how events are grouped in time (always by event time).
import { z } from 'zod';
import { formatDuration, tryParseDuration } from './duration.ts';
import { duration, k8sRules, strictObject } from './fields.ts';
import { show } from './show.ts';

/** Each event lands in size/advance hopping windows; this bounds the per-record work. */
export const MAX_WINDOWS_PER_EVENT = 1000;

const grace = duration(0)
  .default('0s')
  .describe(
    'How far behind the watermark an event may arrive and still count. Later events go to the dead-letter topic as late.',
  );

const type = <const T extends string>(name: T) =>
  z.literal(name, { error: (iss) => `expected type ${name}, got ${show(iss.input)}` });

export const tumblingWindowSchema = strictObject({
  type: type('tumbling'),
  size: duration(1).describe('Length of each window, e.g. `1m`. Windows are aligned to the epoch.'),
  grace,
}).describe('Fixed-size, non-overlapping windows.');

export const hoppingWindowSchema = strictObject({
  type: type('hopping'),
  size: duration(1).describe('Length of each window, e.g. `15m`.'),
  advance: duration(1).describe('How often a new window starts, e.g. `1m`. Must divide `size`.'),
  grace,
  rankWholeWindows: z
    .boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` })
    // optional, not defaulted: an API server default would land on every window type (one CRD
    // schema for all three), where the rule below refuses it
    .optional()
    .describe(
      "Keep whole-window indexes across a window's slices and partitions (on one Redis node): one ranking per window for the `count`, `sum`, `min` and `max` aggregates of `rankBy`, so `top` of a hopping window reads O(k) entries instead of merging every slice's index, and one set of the window's groups, so the group count of `top` and of rollups is one read instead of a union of every slice's groups. Costs Redis CPU on every commit: each slice's change goes into every window it is in (about 3× the Redis CPU per record of a 1m/10s window with a ranked count; the group sets alone about 1.9× on 100k keys that rarely repeat across slices, less where groups recur). Default off: `top` merges the slices' indexes and counts the union (exact either way). Part of the logic: changing it starts a new version that replays the log.",
    ),
})
  .superRefine((w, ctx) => {
    const size = tryParseDuration(w.size);
    const advance = tryParseDuration(w.advance);
    if (size === undefined || advance === undefined || advance === 0) return;
    if (advance > size) {
      ctx.addIssue({
        code: 'custom',
        path: ['advance'],
        message: `advance (${w.advance}) must not be longer than size (${w.size})`,
      });
    } else if (size % advance !== 0) {
      const lower = formatDuration(largestDivisorUpTo(size, advance));
      ctx.addIssue({
        code: 'custom',
        path: ['advance'],
        message: `advance must divide size evenly: ${w.size} is not a multiple of ${w.advance} (try ${lower})`,
      });
    } else if (size / advance > MAX_WINDOWS_PER_EVENT) {
      ctx.addIssue({
        code: 'custom',
        path: ['advance'],
        message: `size/advance is ${size / advance}: each event would update that many windows (at most ${MAX_WINDOWS_PER_EVENT}); use a longer advance`,
      });
    }
  })
  .describe(
    'Fixed-size windows that overlap: a new one starts every `advance`; each event counts in size/advance windows.',
  );

export const sessionWindowSchema = strictObject({
  type: type('session'),
  gap: duration(1).describe('A session closes after this long without events for its group, e.g. `30m`.'),
  grace,
}).describe(
  'One window per burst of activity of a group; requires records of a group in one partition (re-keyed if needed).',
);

const WINDOW_TYPES = ['tumbling', 'hopping', 'session'];

export const windowSchema = z
  .discriminatedUnion('type', [tumblingWindowSchema, hoppingWindowSchema, sessionWindowSchema], {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const input = iss.input as { type?: unknown } | undefined;
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        return `expected a window like { type: tumbling, size: 1m }, got ${show(input)}`;
      }
      return input.type === undefined
        ? `window needs a type: one of ${WINDOW_TYPES.join(', ')}`
        : `expected one of ${WINDOW_TYPES.join(', ')}, got ${show(input.type)}`;
    },
  })
  .meta(
    k8sRules(
      {
        rule: "self.type == 'session' ? has(self.gap) && !has(self.size) : has(self.size) && !has(self.gap)",
        message: 'tumbling and hopping windows need size; session windows need gap (not size)',
      },
      {
        rule: "self.type == 'hopping' ? has(self.advance) : !has(self.advance)",
        message: 'advance is only for hopping windows, and hopping windows need it',
      },
      {
        rule: "self.type == 'hopping' || !has(self.rankWholeWindows)",
        message: 'rankWholeWindows is only for hopping windows',
      },
    ),
  )
  .describe(
    'How events are grouped in time: `tumbling` (size), `hopping` (size + advance) or `session` (gap); all with `grace`.',
  );

/** The longest advance up to `advance` that divides `size` in whole milliseconds (1 ms always does). */
export function largestDivisorUpTo(size: number, advance: number): number {
  // divisors come in pairs (d, size/d) with d ≤ √size: at most ~560k steps for the longest duration
  let best = 1;
  for (let d = 1; d * d <= size; d++) {
    if (size % d !== 0) continue;
    if (d <= advance && d > best) best = d;
    const pair = size / d;
    if (pair <= advance && pair > best) best = pair;
  }
  return best;
}
