// `spec.source`: which topic(s) to read and how to turn a record into an event.
import { z } from 'zod';
import { EVENT_TIME_FORMATS } from '../model/event-time-format.ts';
import { KEY_FORMATS, REGISTRY_FORMATS, SOURCE_FORMATS } from '../model/source-format.ts';
import { duration, k8sRules, strictObject, topicName } from './fields.ts';
import { schemaRegistrySchema } from './schema-registry.ts';
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
      'How the field is encoded. `epochMillis`, `epochSeconds`, `epochMicros`, `epochNanos`: a JSON number or a string of digits (`"1717243200"`; a fraction and an exponent are allowed) since 1970-01-01 UTC, floored to the millisecond. `iso8601`: a string such as `2026-06-01T12:00:00.123Z` or `2026-06-01 12:00:00+02:00` (no offset: UTC). `auto`: a number or a string of digits is epoch milliseconds, any other string ISO-8601. A value that does not match the format, is missing, or falls outside years 1-9999 goes to the dead-letter topic with reason `event-time` (when `where` keeps the record: a record `where` filters out is counted as filtered, whatever its time).',
    ),
}).describe('Where the event time comes from. Without it, windows use the Kafka record timestamp.');

export type { EventTimeFormat } from '../model/event-time-format.ts';
export { KEY_FORMATS, REGISTRY_FORMATS, SOURCE_FORMATS };

const messageTypeField = z
  .string()
  .min(1)
  .max(512)
  .regex(/^\.?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, {
    error: (iss) =>
      `expected a fully qualified Protobuf message name like shop.v1.Order, got ${show(iss.input)}`,
  });

const REGISTRY_KEY_FORMATS: readonly string[] = ['avro', 'protobuf', 'jsonSchema'];

export const keySchema = strictObject({
  format: z
    .enum(KEY_FORMATS, {
      error: (iss) => `expected one of ${KEY_FORMATS.join(', ')}, got ${show(iss.input)}`,
    })
    .default('string')
    .describe(
      'How the record key becomes `record.key`. `string`: the key as UTF-8 text. `json`: the key parsed as JSON (e.g. `record.key.userId`). `avro`, `protobuf`, `jsonSchema`: the Confluent wire format, decoded with the writer schema from `schemaRegistry`. `none`: the key is not read (`record.key` is null). A record without a key has `record.key` null; a key that does not decode goes to the dead-letter topic with reason `key-decode`.',
    ),
  messageType: messageTypeField
    .optional()
    .describe(
      '`protobuf` keys only: decode every key as this message (fully qualified) instead of the one named by the message indexes in the key.',
    ),
})
  .superRefine((k, ctx) => {
    if (k.messageType !== undefined && k.format !== 'protobuf') {
      ctx.addIssue({
        code: 'custom',
        path: ['messageType'],
        message: 'key.messageType needs key.format: protobuf',
      });
    }
  })
  .meta(
    k8sRules({
      rule: "!has(self.messageType) || (has(self.format) && self.format == 'protobuf')",
      message: 'key.messageType needs key.format protobuf',
    }),
  )
  .describe('How the record key is decoded for expressions (`record.key`). Absent: the key as UTF-8 text.');

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
    .enum(SOURCE_FORMATS, {
      error: (iss) => `expected one of ${SOURCE_FORMATS.join(', ')}, got ${show(iss.input)}`,
    })
    .default('json')
    .describe(
      '`json`: each record value is one JSON object, bound to `event`. `text`: the value as a UTF-8 string, bound to `event` (as a string). `avro`, `protobuf`, `jsonSchema`: the Confluent wire format (magic byte, schema id, payload), decoded with the writer schema fetched from `schemaRegistry` (see docs/avro-protobuf.md for how each type maps to `event`).',
    ),
  schemaRegistry: schemaRegistrySchema.optional(),
  messageType: messageTypeField
    .optional()
    .describe(
      '`protobuf` only: decode every record as this message (fully qualified, e.g. `shop.v1.Order`) instead of the one named by the message indexes in the record.',
    ),
  key: keySchema.optional(),
  eventTime: eventTimeSchema.optional(),
  idleTimeout: duration(1000)
    .optional()
    .describe(
      'At least 1s. A partition that received no record for this long (by wall clock) and has none waiting stops holding windows open: the query API reports windows `final` and the watermark from the other partitions ("nothing waiting" is read from Kafka: a query API without Kafka access, `kappaflow serve` without `--brokers`, treats no partition as idle). When records arrive on it again (the first one stamped at least this long after its last commit), they are judged against the lowest watermark of the partitions still active, so a window once reported final never changes (older records are late). Absent: every partition holds windows open until its own watermark passes them.',
    ),
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
    const keyFormat = s.key?.format ?? 'string';
    const registryKey = REGISTRY_KEY_FORMATS.includes(keyFormat);
    if (REGISTRY_FORMATS.includes(s.format) && s.schemaRegistry === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['schemaRegistry'],
        message: `format ${s.format} needs schemaRegistry: { url: http://registry:8081 }`,
      });
    } else if (registryKey && s.schemaRegistry === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['key', 'format'],
        message: `key.format ${keyFormat} needs schemaRegistry: { url: http://registry:8081 }`,
      });
    }
    if (!REGISTRY_FORMATS.includes(s.format) && !registryKey && s.schemaRegistry !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['schemaRegistry'],
        message: `schemaRegistry is only read with format (or key.format) avro, protobuf or jsonSchema, not ${s.format}`,
      });
    }
    if (s.messageType !== undefined && s.format !== 'protobuf') {
      ctx.addIssue({ code: 'custom', path: ['messageType'], message: 'messageType needs format: protobuf' });
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
      {
        rule: "has(self.schemaRegistry) == ((has(self.format) && self.format in ['avro', 'protobuf', 'jsonSchema']) || (has(self.key) && has(self.key.format) && self.key.format in ['avro', 'protobuf', 'jsonSchema']))",
        message:
          'formats (and key formats) avro, protobuf and jsonSchema need schemaRegistry (and only they read it)',
      },
      {
        rule: "!has(self.messageType) || (has(self.format) && self.format == 'protobuf')",
        message: 'messageType needs format protobuf',
      },
    ),
  )
  .describe('The Kafka topic(s) to read and how to decode each record.');
