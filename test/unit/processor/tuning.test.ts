import { describe, expect, it } from 'vitest';
import { TUNING_ENV, tuningFromEnv } from '../../../processor/src/cli/tuning.ts';

describe('kappaflow run reads its tuning from the environment once (cli/tuning.ts)', () => {
  it('leaves every value to its default when nothing is set', () => {
    expect(tuningFromEnv({})).toEqual({});
    expect(tuningFromEnv({ KAPPAFLOW_STALL_AFTER_MS: '' })).toEqual({});
  });

  it.each([
    ['KAPPAFLOW_STALL_AFTER_MS', { stallAfterMs: 1234 }],
    ['KAPPAFLOW_SUPERSEDED_CHECK_MS', { supersededCheckMs: 1234 }],
    ['KAPPAFLOW_MAX_CACHED_FIELDS', { maxCachedFields: 1234 }],
    ['KAPPAFLOW_PROMOTE_MAX_LAG', { promotion: { maxLag: 1234 } }],
    ['KAPPAFLOW_PROMOTE_CHECK_MS', { promotion: { intervalMs: 1234 } }],
    ['KAPPAFLOW_RETIRE_FIRST_SWEEP_MS', { promotion: { firstSweepMs: 1234 } }],
    ['KAPPAFLOW_RETIRE_SECOND_SWEEP_MS', { promotion: { secondSweepMs: 1234 } }],
  ])('%s sets its option', (name, expected) => {
    expect(tuningFromEnv({ [name]: '1234' })).toEqual(expected);
  });

  it('lists exactly the variables it reads', () => {
    expect(Object.values(TUNING_ENV).sort()).toEqual([
      'KAPPAFLOW_MAX_CACHED_FIELDS',
      'KAPPAFLOW_PROMOTE_CHECK_MS',
      'KAPPAFLOW_PROMOTE_MAX_LAG',
      'KAPPAFLOW_RETIRE_FIRST_SWEEP_MS',
      'KAPPAFLOW_RETIRE_SECOND_SWEEP_MS',
      'KAPPAFLOW_STALL_AFTER_MS',
      'KAPPAFLOW_SUPERSEDED_CHECK_MS',
    ]);
  });

  it('refuses a value that is not a non-negative number, naming the variable', () => {
    expect(() => tuningFromEnv({ KAPPAFLOW_PROMOTE_MAX_LAG: 'lots' })).toThrow(
      /KAPPAFLOW_PROMOTE_MAX_LAG must be a non-negative number, got "lots"/,
    );
    expect(() => tuningFromEnv({ KAPPAFLOW_STALL_AFTER_MS: '-5' })).toThrow(/KAPPAFLOW_STALL_AFTER_MS/);
  });
});
