// `spec.sink.format: avro`: the sink record as an Avro record in the Confluent wire format. The
// schema is derived from the pipeline so that it mirrors the JSON record field for field; values
// that the JSON record may lack or hold as null are nullable with default null.
import avro from 'avsc';
import { KINDS } from '../aggregates/kinds.ts';
import type { AggregateKind, RuntimePipeline } from '../model/pipeline.ts';
import { REGISTRY_CREDENTIALS_ENV } from '../model/source-format.ts';
import type { Logger } from '../observability/logger.ts';
import {
  RegistryRefusedError,
  RegistryUnavailableError,
  registryClient,
  type SchemaRegistrar,
} from './formats/registry-client.ts';
import { headerFor } from './formats/wire.ts';

/** The JSON sink record (see sink.ts). */
export interface SinkRecord {
  pipeline: string;
  window: { start: number; end: number };
  partition: string;
  group: Record<string, unknown>;
  values: Record<string, unknown>;
}

type AvroType = avro.Schema;

/** The Avro type of each published kind's output (sketch kinds are not published). */
const VALUE_TYPES: Partial<Record<AggregateKind, AvroType>> = {
  count: 'long',
  sum: 'double',
  min: 'double',
  max: 'double',
  avg: 'double',
  first: 'string',
  last: 'string',
};

/** The aggregates the sink publishes: those kept in hash fields (see sink.ts). */
export function publishedAggregates(pipeline: Pick<RuntimePipeline, 'aggregates'>) {
  return pipeline.aggregates.filter((a) => KINDS[a.kind].form.type === 'fields');
}

/** The Avro schema of the sink records of `pipeline`. */
export function sinkAvroSchema(
  pipeline: Pick<RuntimePipeline, 'groupNames' | 'aggregates'>,
): avro.schema.RecordType {
  const nullable = (type: AvroType) => ({ type: ['null', type], default: null });
  return {
    type: 'record',
    name: 'WindowRecord',
    namespace: 'io.kappaflow.sink',
    doc: "One group's partial aggregates of one partition for one closed window",
    fields: [
      { name: 'pipeline', type: 'string' },
      {
        name: 'window',
        type: {
          type: 'record',
          name: 'Window',
          fields: [
            { name: 'start', type: { type: 'long', logicalType: 'timestamp-millis' } },
            { name: 'end', type: { type: 'long', logicalType: 'timestamp-millis' } },
          ],
        },
      },
      { name: 'partition', type: 'string' },
      {
        name: 'group',
        type: {
          type: 'record',
          name: 'Group',
          // a groupBy expression may give a string, number, boolean or nothing
          fields: pipeline.groupNames.map((name) => ({
            name,
            type: ['null', 'string', 'double', 'boolean'],
            default: null,
          })),
        },
      },
      {
        name: 'values',
        type: {
          type: 'record',
          name: 'Values',
          fields: publishedAggregates(pipeline).map((a) => ({
            name: a.name,
            ...nullable(VALUE_TYPES[a.kind]!),
          })),
        },
      },
    ],
  } as avro.schema.RecordType;
}

/** The Avro value of a JSON sink record: fields the record lacks become null. */
function avroValueOf(record: SinkRecord, groupNames: readonly string[], valueNames: readonly string[]) {
  const pick = (from: Record<string, unknown>, names: readonly string[]) =>
    Object.fromEntries(names.map((n) => [n, from[n] ?? null]));
  return { ...record, group: pick(record.group, groupNames), values: pick(record.values, valueNames) };
}

export type SinkEncoder = (record: SinkRecord) => Buffer | string;

export const jsonSinkEncoder: SinkEncoder = (record) => JSON.stringify(record);

/** An encoder writing `schemaId`'s wire format (the id the registry gave the derived schema). */
export function avroSinkEncoder(
  pipeline: Pick<RuntimePipeline, 'groupNames' | 'aggregates'>,
  schemaId: number,
): SinkEncoder {
  const type = avro.Type.forSchema(sinkAvroSchema(pipeline));
  const header = headerFor(schemaId);
  const valueNames = publishedAggregates(pipeline).map((a) => a.name);
  return (record) =>
    Buffer.concat([header, type.toBuffer(avroValueOf(record, pipeline.groupNames, valueNames))]);
}

const MAX_BACKOFF_MS = 10_000;

/**
 * Registers the sink schema under `<sinkTopic>-value` and returns the sink's encoder. An unreachable
 * registry is waited for with back-off (the replica stays not ready), logged at most every 10 s;
 * `isRunning` false stops the wait. A registry that refuses the schema (not compatible with the
 * subject's versions, or not valid) is asked again the same way, since the fix is a change to the
 * subject made while the replica waits, and the log says which changes would do.
 */
export async function sinkEncoderFor(
  pipeline: RuntimePipeline,
  logger: Logger,
  isRunning: () => boolean = () => true,
  registrar?: SchemaRegistrar,
): Promise<SinkEncoder> {
  if (!pipeline.sinkAvro || !pipeline.sinkTopic) return jsonSinkEncoder;
  const client =
    registrar ??
    registryClient(
      pipeline.sinkAvro.schemaRegistry,
      process.env,
      pipeline.sinkAvro.credentialsEnv,
      // the sink's own settings, or the source's it falls back to
      pipeline.sinkAvro.credentialsEnv === REGISTRY_CREDENTIALS_ENV
        ? 'source.schemaRegistry'
        : 'sink.schemaRegistry',
    );
  const subject = `${pipeline.sinkTopic}-value`;
  const schema = JSON.stringify(sinkAvroSchema(pipeline));
  let loggedAt = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const id = await client.register(subject, schema);
      logger.info({ subject, schemaId: id }, 'sink schema registered');
      return avroSinkEncoder(pipeline, id);
    } catch (error) {
      if (!(error instanceof RegistryUnavailableError) || !isRunning()) throw error;
      const delayMs = Math.min(MAX_BACKOFF_MS, 200 * 2 ** Math.min(attempt, 6));
      if (Date.now() - loggedAt >= 10_000) {
        loggedAt = Date.now();
        if (error instanceof RegistryRefusedError) {
          logger.error(
            { subject, attempt, retryInMs: delayMs, status: error.status, error: error.message },
            refusalAdvice(subject, error.status),
          );
        } else {
          logger.warn(
            { subject, attempt, retryInMs: delayMs, error: error.message },
            'cannot register the sink schema; not ready, retrying',
          );
        }
      }
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

function refusalAdvice(subject: string, status: 409 | 422): string {
  return status === 409
    ? `the schema registry refused the sink schema as incompatible with the versions under ${subject}: write to a new sink.topic (a new subject), set ${subject}'s compatibility (PUT /config/${subject}) to a level that allows the change, or bring the aggregates back to what the subject holds; not ready, retrying`
    : 'the schema registry refused the sink schema as invalid (422): please report it as a Kappaflow bug with the registry message; not ready, retrying';
}
