import type { ProcessorTuning } from '../runtime/processor.ts';

/** The environment variables `kappaflow run` reads into the processor's tuning (all optional). */
export const TUNING_ENV = {
  stallAfterMs: 'KAPPAFLOW_STALL_AFTER_MS',
  supersededCheckMs: 'KAPPAFLOW_SUPERSEDED_CHECK_MS',
  maxCachedFields: 'KAPPAFLOW_MAX_CACHED_FIELDS',
  maxLag: 'KAPPAFLOW_PROMOTE_MAX_LAG',
  intervalMs: 'KAPPAFLOW_PROMOTE_CHECK_MS',
  firstSweepMs: 'KAPPAFLOW_RETIRE_FIRST_SWEEP_MS',
  secondSweepMs: 'KAPPAFLOW_RETIRE_SECOND_SWEEP_MS',
} as const;

type TuningName = keyof typeof TUNING_ENV;

/**
 * Reads the tuning from the environment once, at start-up, so the modules below take plain options.
 * A value that is not a non-negative number is refused with the variable's name.
 */
export function tuningFromEnv(env: NodeJS.ProcessEnv): ProcessorTuning {
  const read = (name: TuningName): number | undefined => {
    const raw = env[TUNING_ENV[name]];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0)
      throw new Error(
        `${TUNING_ENV[name]} must be a non-negative number, got "${raw}"; unset it for the default`,
      );
    return value;
  };
  const defined = <T extends Record<string, number | undefined>>(values: T) =>
    Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as {
      [K in keyof T]?: number;
    };
  const promotion = defined({
    maxLag: read('maxLag'),
    intervalMs: read('intervalMs'),
    firstSweepMs: read('firstSweepMs'),
    secondSweepMs: read('secondSweepMs'),
  });
  return {
    ...defined({
      stallAfterMs: read('stallAfterMs'),
      supersededCheckMs: read('supersededCheckMs'),
      maxCachedFields: read('maxCachedFields'),
    }),
    ...(Object.keys(promotion).length > 0 ? { promotion } : {}),
  };
}
