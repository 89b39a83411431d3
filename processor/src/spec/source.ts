// `spec.source`: which topic(s) to read and how to turn a record into an event.
import { z } from 'zod';
import { EVENT_TIME_FORMATS } from '../model/event-time-format.ts';
import { k8sRules, strictObject, topicName } from './fields.ts';
import { show } from './show.ts';

/** A dotted path into the event, e.g. `ts` or `meta.created_at`. */
export const FIELD_PATH_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$';

export const eventTimeSchema = strictObject({
  field: z
    .string({ error: (iss) => `expected a field name like ts or meta.created_at, got ${show(iss.input)}` })
    .max(256)
    .regex(new RegExp(FIELD_PATH_PATTERN), {
      error: (iss) =>
        `expected a field name like ts or meta.created_at (dots for nested fields), got ${show(iss.input)}`,
    })
    .describe('Field of the event holding its time (dots for nested fields, e.g. `meta.ts`).'),
  format: z
    .enum(EVENT_TIME_FORMATS, {
      error: (iss) => `expected one of ${EVENT_TIME_FORMATS.join(', ')}, got ${show(iss.input)}`,
    })
    .default('auto')
    .describe(
      'How the field is encoded. `epochMillis`, `epochSeconds`, `epochMicros`, `epochNanos`: a JSON number or a string of digits (`"1717243200"`; a fraction and an exponent are allowed) since 1970-01-01 UTC, floored to the millisecond. `iso8601`: a string such as `2026-06-01T12:00:00.123Z` or `2026-06-01 12:00:00+02:00` (no offset: UTC). `auto`: a number or a string of digits is epoch milliseconds, any other string ISO-8601. A value that does not match the format, is missing, or falls outside years 1-9999 goes to the dead-letter topic with reason `event-time`.',
    ),
}).describe('Where the event time comes from. Without it, windows use the Kafka record timestamp.');

export type { EventTimeFormat } from '../model/event-time-format.ts';

export const sourceSchema = strictObject({
  topic: topicName.optional().describe('The topic to read. Give either `topic` or `topics`.'),
  topics: z
    .array(topicName, { error: (iss) => `expected a list of topic names, got ${show(iss.input)}` })
    .min(1, { error: 'topics needs at least one topic' })
    .max(100, { error: 'topics has at most 100 topics' })
    // A set: the API server refuses duplicates natively (cheaper than a CEL rule).
    .meta({ 'x-kubernetes-list-type': 'set' })
    .optional()
    .describe(
      'Several topics read as one stream (all with the same event shape). Give either `topic` or `topics`.',
    ),
  format: z
    .enum(['json', 'text'], { error: (iss) => `expected json or text, got ${show(iss.input)}` })
    .default('json')
    .describe(
      '`json`: each record value is one JSON object, bound to `event`. `text`: the value as a UTF-8 string, bound to `event` (as a string).',
    ),
  eventTime: eventTimeSchema.optional(),
  startFrom: z
    .enum(['earliest', 'latest'], { error: (iss) => `expected earliest or latest, got ${show(iss.input)}` })
    .default('earliest')
    .describe(
      'Where a brand-new pipeline version starts reading. Afterwards its checkpoints rule. `earliest` replays the whole log (Kappa reprocessing).',
    ),
})
  .superRefine((s, ctx) => {
    if ((s.topic === undefined) === (s.topics === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: s.topic === undefined ? ['topic'] : ['topics'],
        message:
          s.topic === undefined
            ? 'source needs a topic: set `topic: <name>` (or `topics: [a, b]` for several)'
            : 'give either topic or topics, not both',
      });
    }
    if (s.topics !== undefined && new Set(s.topics).size !== s.topics.length) {
      ctx.addIssue({ code: 'custom', path: ['topics'], message: 'topics lists the same topic twice' });
    }
    if (s.format === 'text' && s.eventTime !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['eventTime'],
        message:
          'eventTime needs format: json (a text record has no fields); remove eventTime to use the record timestamp',
      });
    }
  })
  .meta(
    k8sRules(
      { rule: 'has(self.topic) != has(self.topics)', message: 'give either topic or topics' },
      {
        rule: "!(has(self.format) && self.format == 'text' && has(self.eventTime))",
        message: 'eventTime needs format json',
      },
    ),
  )
  .describe('The Kafka topic(s) to read and how to decode each record.');
