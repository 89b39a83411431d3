// `spec.enrich`: stream-table joins. Each lookup reads one field of a Redis hash that another
// system maintains, and binds the result to `enriched.<as>` for later expressions.
import { z } from 'zod';
import { celExpression, identifier, k8sRules, strictObject } from './fields.ts';
import { show } from './show.ts';

export const enrichLookupSchema = strictObject({
  redisHash: z
    .string({ error: (iss) => `expected the name of a Redis hash, got ${show(iss.input)}` })
    .min(1, { error: 'redisHash cannot be empty' })
    .max(512, { error: 'redisHash has at most 512 characters' })
    .regex(/^[^\s]+$/, {
      error: (iss) => `a Redis key name cannot contain whitespace, got ${show(iss.input)}`,
    })
    .refine((s) => !s.startsWith('kf:'), {
      error: "keys starting with kf: belong to Kappaflow's own state; use another hash",
    })
    .describe('The Redis hash to look up (e.g. `merchants:region`); another system keeps it up to date.'),
  key: celExpression(
    'CEL expression giving the hash field to read, e.g. `event.merchant_id`. Its value is turned into a string.',
  ),
  as: identifier('an enrich name').describe(
    'The result is available as `enriched.<as>` in groupBy (not with a session window, which puts each group in one partition before the lookups run), aggregates and later lookups.',
  ),
  onMissing: z
    .enum(['keep', 'skip', 'deadLetter'], {
      error: (iss) => `expected keep, skip or deadLetter, got ${show(iss.input)}`,
    })
    .default('keep')
    .describe(
      'When the hash has no entry for the key: `keep` the event with `enriched.<as>` null (a left join: `has(enriched.<as>)` is false, and grouping by it gives the group `"null"`), `skip` the event, or send it to the `deadLetter` topic with reason `enrich`.',
    ),
})
  .meta(
    k8sRules({
      rule: "!self.redisHash.startsWith('kf:')",
      message: 'kf: keys are reserved for Kappaflow state',
    }),
  )
  .describe('A lookup in a Redis hash.');

export const enrichStepSchema = strictObject({ lookup: enrichLookupSchema }).describe('One enrichment step.');

export const enrichSchema = z
  .array(enrichStepSchema, {
    error: (iss) => `expected a list of { lookup: ... } steps, got ${show(iss.input)}`,
  })
  .max(16, { error: 'at most 16 enrich steps' })
  .superRefine((steps, ctx) => {
    const seen = new Set<string>();
    steps.forEach((s, i) => {
      if (seen.has(s.lookup.as)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'lookup', 'as'],
          message: `enriched.${s.lookup.as} is already set by an earlier lookup; pick another name`,
        });
      }
      seen.add(s.lookup.as);
    });
  })
  // Not mirrored in the CRD: the API server's cost estimate for comparing every pair of list items
  // exceeds its budget. The operator validates with this schema and reports it (SpecValid condition).
  .describe('Lookups run in order after `where`; each adds `enriched.<as>`.');
