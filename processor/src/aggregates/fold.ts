import { fieldOf } from '../model/fields.ts';
import type { AggregateShape } from '../model/pipeline.ts';
import { bucketOf } from './ddsketch.ts';

/**
 * The changes one batch makes to one window of one partition. Records fold in here in memory; the
 * whole batch then reaches Redis in a single commit (see state/commit.ts), so the number of Redis
 * round trips depends on batches, not records.
 */
export class WindowDelta {
  readonly increments = new Map<string, number>(); // HINCRBY: counts, avg counts
  readonly sums = new Map<string, number>(); // HINCRBYFLOAT: sums, avg sums
  readonly mins = new Map<string, number>();
  readonly maxs = new Map<string, number>();
  readonly firsts = new Map<string, { time: number; value: string }>();
  readonly lasts = new Map<string, { time: number; value: string }>();
  readonly distinct = new Map<string, Set<string>>();
  readonly sketches = new Map<string, Map<string, number>>();
  readonly tops = new Map<string, Map<string, number>>();

  /** start and end are final for fixed windows; session windows settle them when the batch ends */
  constructor(
    public start: number,
    public end: number,
  ) {}
}

/** Thrown when an aggregate's argument has the wrong type for it; the record goes to the dead-letter topic. */
export class AggregateInputError extends Error {}

export class BatchFold {
  readonly windows = new Map<number, WindowDelta>();
  records = 0;

  constructor(private readonly aggregates: readonly AggregateShape[]) {}

  window(start: number, end: number): WindowDelta {
    let delta = this.windows.get(start);
    if (!delta) {
      delta = new WindowDelta(start, end);
      this.windows.set(start, delta);
    }
    return delta;
  }

  /**
   * Checks every argument before changing anything, so a record is either folded into all its
   * aggregates or into none (and dead-lettered).
   */
  prepare(args: readonly unknown[]): PreparedArgs {
    const prepared: (number | string | undefined)[] = new Array(this.aggregates.length);
    for (let i = 0; i < this.aggregates.length; i++) {
      const aggregate = this.aggregates[i]!;
      const arg = args[i];
      switch (aggregate.kind) {
        case 'count':
          break;
        case 'sum':
        case 'min':
        case 'max':
        case 'avg':
        case 'percentile':
          prepared[i] = toNumber(arg, aggregate.name);
          break;
        default:
          prepared[i] = toText(arg, aggregate.name);
      }
    }
    return prepared;
  }

  add(delta: WindowDelta, group: string, eventTime: number, prepared: PreparedArgs): void {
    for (let i = 0; i < this.aggregates.length; i++) {
      const aggregate = this.aggregates[i]!;
      const name = aggregate.name;
      const value = prepared[i];
      switch (aggregate.kind) {
        case 'count':
          increment(delta.increments, fieldOf(name, group), 1);
          break;
        case 'sum':
          increment(delta.sums, fieldOf(name, group), value as number);
          break;
        case 'avg':
          increment(delta.sums, fieldOf(name, group, 's'), value as number);
          increment(delta.increments, fieldOf(name, group, 'n'), 1);
          break;
        case 'min': {
          const field = fieldOf(name, group);
          const current = delta.mins.get(field);
          if (current === undefined || (value as number) < current) delta.mins.set(field, value as number);
          break;
        }
        case 'max': {
          const field = fieldOf(name, group);
          const current = delta.maxs.get(field);
          if (current === undefined || (value as number) > current) delta.maxs.set(field, value as number);
          break;
        }
        case 'first': {
          const field = fieldOf(name, group);
          const current = delta.firsts.get(field);
          // Ties keep the earlier offset: records arrive in offset order.
          if (current === undefined || eventTime < current.time)
            delta.firsts.set(field, { time: eventTime, value: value as string });
          break;
        }
        case 'last': {
          const field = fieldOf(name, group);
          const current = delta.lasts.get(field);
          if (current === undefined || eventTime >= current.time)
            delta.lasts.set(field, { time: eventTime, value: value as string });
          break;
        }
        case 'countDistinct':
          setOf(delta.distinct, fieldOf(name, group)).add(value as string);
          break;
        case 'percentile':
          increment(
            mapOf(delta.sketches, fieldOf(name, group)),
            bucketOf(value as number, aggregate.accuracy),
            1,
          );
          break;
        case 'topK':
          increment(mapOf(delta.tops, fieldOf(name, group)), value as string, 1);
          break;
      }
    }
  }
}

export type PreparedArgs = readonly (number | string | undefined)[];

function toNumber(value: unknown, aggregate: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  throw new AggregateInputError(`aggregate ${aggregate}: expected a number, got ${describe(value)}`);
}

function toText(value: unknown, aggregate: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) {
    throw new AggregateInputError(`aggregate ${aggregate}: the value is missing (null)`);
  }
  return JSON.stringify(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (the field is missing or null)';
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`;
}

function increment(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function mapOf<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let inner = map.get(key);
  if (!inner) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
}

function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let inner = map.get(key);
  if (!inner) {
    inner = new Set();
    map.set(key, inner);
  }
  return inner;
}
