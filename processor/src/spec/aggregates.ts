// `spec.aggregates`: named values computed per group and window.
// Each entry holds exactly one operator key (`sum: event.bytes`), so YAML stays one line per aggregate.
import { z } from 'zod';
import { celExpression, identifier, identifierKeysRule, k8sRules, strictObject } from './fields.ts';
import { show } from './show.ts';

/** Operators and what their argument means; the docs and the normalized form use this table. */
export const AGGREGATE_OPERATORS = {
  count: 'Number of events. Written `count: {}`.',
  sum: 'Sum of a numeric expression.',
  min: 'Smallest value of a numeric expression.',
  max: 'Largest value of a numeric expression.',
  avg: 'Mean of a numeric expression (kept as sum and count, so it merges exactly).',
  first: 'Value of the expression for the earliest event (by event time) of the window.',
  last: 'Value of the expression for the latest event (by event time) of the window.',
  countDistinct: 'Approximate number of distinct values (HyperLogLog, standard error 0.81%).',
  percentile:
    'Approximate quantile `q` of a numeric expression (mergeable sketch with relative error `accuracy`).',
  topK: 'The `k` most frequent values with their counts, exact: every distinct value is counted per group and window (memory grows with the distinct values).',
} as const;
export type AggregateOperator = keyof typeof AGGREGATE_OPERATORS;

/**
 * Operators `spec.rankBy` can index: values that combine monotonically across partitions (count,
 * sum, min, max), and percentiles, whose index holds an upper bound per partition.
 */
export const RANK_INDEX_OPERATORS: readonly AggregateOperator[] = [
  'count',
  'sum',
  'min',
  'max',
  'percentile',
];
export const AGGREGATE_OPERATOR_NAMES = Object.keys(AGGREGATE_OPERATORS) as AggregateOperator[];

export const DEFAULT_TOP_K = 10;
export const DEFAULT_PERCENTILE_ACCURACY = 0.01;

const arg = (op: AggregateOperator) => celExpression(AGGREGATE_OPERATORS[op]).optional();

export const aggregateSchema = strictObject({
  count: strictObject({}).optional().describe(AGGREGATE_OPERATORS.count),
  sum: arg('sum'),
  min: arg('min'),
  max: arg('max'),
  avg: arg('avg'),
  first: arg('first'),
  last: arg('last'),
  countDistinct: arg('countDistinct'),
  percentile: arg('percentile'),
  topK: arg('topK'),
  q: z
    .number({ error: (iss) => `expected a quantile between 0 and 1 (e.g. 0.95), got ${show(iss.input)}` })
    .gt(0, { error: (iss) => `q must be between 0 and 1 (exclusive), got ${show(iss.input)}` })
    .lt(1, { error: (iss) => `q must be between 0 and 1 (exclusive), got ${show(iss.input)}` })
    .optional()
    .describe('With `percentile`: the quantile, between 0 and 1 exclusive (0.95 = p95).'),
  accuracy: z
    .number({ error: (iss) => `expected a relative error between 0.001 and 0.1, got ${show(iss.input)}` })
    .min(0.001, { error: (iss) => `accuracy must be between 0.001 and 0.1, got ${show(iss.input)}` })
    .max(0.1, { error: (iss) => `accuracy must be between 0.001 and 0.1, got ${show(iss.input)}` })
    .optional()
    .describe(
      `With \`percentile\`: relative error of the sketch (default ${DEFAULT_PERCENTILE_ACCURACY} = 1%).`,
    ),
  k: z
    .number({ error: (iss) => `expected k as a whole number from 1 to 1000, got ${show(iss.input)}` })
    .int({ error: (iss) => `expected k as a whole number from 1 to 1000, got ${show(iss.input)}` })
    .min(1, { error: (iss) => `k must be from 1 to 1000, got ${show(iss.input)}` })
    .max(1000, { error: (iss) => `k must be from 1 to 1000, got ${show(iss.input)}` })
    .optional()
    .describe(`With \`topK\`: how many values to keep (default ${DEFAULT_TOP_K}).`),
})
  .superRefine((a, ctx) => {
    const ops = AGGREGATE_OPERATOR_NAMES.filter((op) => a[op] !== undefined);
    if (ops.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `an aggregate needs one operator: ${AGGREGATE_OPERATOR_NAMES.join(', ')} (e.g. { sum: event.bytes } or { count: {} })`,
      });
    } else if (ops.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [ops[1] as string],
        message: `an aggregate has exactly one operator, got ${ops.join(' and ')}; split it into two aggregates`,
      });
    }
    if (a.percentile === undefined) {
      for (const key of ['q', 'accuracy'] as const) {
        if (a[key] !== undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: `${key} only applies to percentile` });
      }
    } else if (a.q === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['q'],
        message: 'percentile needs q, the quantile (e.g. q: 0.95 for p95)',
      });
    }
    if (a.topK === undefined && a.k !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['k'], message: 'k only applies to topK' });
    }
  })
  .meta(
    k8sRules(
      {
        rule: `[${AGGREGATE_OPERATOR_NAMES.map((op) => `has(self.${op})`).join(', ')}].filter(x, x).size() == 1`,
        message: `an aggregate has exactly one of ${AGGREGATE_OPERATOR_NAMES.join(', ')}`,
      },
      {
        rule: 'has(self.percentile) == has(self.q)',
        message: 'percentile needs q, and q only applies to percentile',
      },
      { rule: '!has(self.accuracy) || has(self.percentile)', message: 'accuracy only applies to percentile' },
      { rule: '!has(self.k) || has(self.topK)', message: 'k only applies to topK' },
    ),
  )
  .describe(
    'One aggregate: exactly one operator key with its CEL argument, plus `q`/`accuracy` (percentile) or `k` (topK).',
  );

export const aggregatesSchema = z
  .record(identifier('an aggregate name'), aggregateSchema, {
    error: (iss) =>
      iss.code === 'invalid_type'
        ? `expected a map of aggregate name to operator, e.g. views: { count: {} }, got ${show(iss.input)}`
        : undefined,
  })
  .refine((r) => Object.keys(r).length >= 1, {
    error: 'aggregates needs at least one aggregate, e.g. views: { count: {} }',
  })
  .refine((r) => Object.keys(r).length <= 64, { error: 'at most 64 aggregates per pipeline' })
  // maxProperties also bounds the cost the API server estimates for the key rule.
  .meta({ ...k8sRules(identifierKeysRule('aggregate name')), minProperties: 1, maxProperties: 64 })
  .describe(
    'Named aggregates computed for each group and window. Names are identifiers (they appear in Redis keys and query results).',
  );
