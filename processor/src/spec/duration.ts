// Durations as users write them in a Pipeline: `500ms`, `10s`, `1m`, `1h30m`, `7d`.
// Units must appear largest first and at most once, so `1h30m` is fine and `30m1h` is a typo.

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

/** Matches the whole syntax; used for the CRD pattern too, so keep it RE2-compatible. */
export const DURATION_PATTERN = '^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$';

/** Longest duration accepted anywhere (10 years): keeps arithmetic far from float limits. */
export const MAX_DURATION_MS = 10 * 366 * UNIT_MS.d;

export const DURATION_HINT = 'a duration like 500ms, 10s, 1m, 1h30m or 7d';

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

function describe(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (typeof input === 'number') return `${input} (a number without a unit; write e.g. ${input}s)`;
  if (input === null || input === undefined) return 'nothing';
  return Array.isArray(input) ? 'a list' : typeof input === 'object' ? 'an object' : String(input);
}

/** Parses a duration string into milliseconds. Throws DurationError with a message a user can act on. */
export function parseDuration(input: unknown): number {
  if (typeof input !== 'string') {
    throw new DurationError(`expected ${DURATION_HINT}, got ${describe(input)}`);
  }
  const text = input;
  if (text === '' || text.length > 64) {
    throw new DurationError(`expected ${DURATION_HINT}, got ${describe(input)}`);
  }
  const parts = text.match(/[0-9]+(ms|d|h|m|s)|./g) ?? [];
  let total = 0;
  let lastRank = -1;
  for (const part of parts) {
    const m = /^([0-9]+)(ms|d|h|m|s)$/.exec(part);
    if (m === null) {
      throw new DurationError(`expected ${DURATION_HINT}, got ${describe(input)}`);
    }
    const unit = m[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastRank) {
      throw new DurationError(
        `expected ${DURATION_HINT} (units largest first, each once), got ${describe(input)}`,
      );
    }
    lastRank = rank;
    total += Number(m[1]) * UNIT_MS[unit];
  }
  if (!(total <= MAX_DURATION_MS)) {
    throw new DurationError(`duration ${describe(input)} is longer than the maximum of 3660d`);
  }
  return total;
}

/** Like parseDuration but returns undefined instead of throwing (for refinements). */
export function tryParseDuration(input: unknown): number | undefined {
  try {
    return parseDuration(input);
  } catch {
    return undefined;
  }
}

/** Formats milliseconds in the same syntax parseDuration accepts (`90000` -> `1m30s`). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format ${ms} as a duration`);
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of UNIT_ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out;
}
