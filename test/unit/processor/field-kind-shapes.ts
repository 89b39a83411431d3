import type { AggregateShape } from '../../../processor/src/model/pipeline.ts';

/**
 * One aggregate of every kind the owner writes as hash fields (counts, sums, min, max, averages,
 * first, last): the aggregates of the unit tests of the owner's staging rules.
 */
export const FIELD_KIND_SHAPES: AggregateShape[] = [
  { name: 'n', kind: 'count' },
  { name: 'total', kind: 'sum' },
  { name: 'lo', kind: 'min' },
  { name: 'hi', kind: 'max' },
  { name: 'mean', kind: 'avg' },
  { name: 'firstItem', kind: 'first' },
  { name: 'lastItem', kind: 'last' },
];
