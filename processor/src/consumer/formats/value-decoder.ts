// Turns record values into events. JSON and text decode on their own; Avro, Protobuf and JSON Schema
// records name their writer schema by id, so a batch first makes sure every id it names is known
// (prepare), and decoding itself stays synchronous in the fold.
import type { KafkaMessage } from 'kafkajs';
import type { SourceFormat } from '../../model/source-format.ts';
import type { SchemaRegistrySpec } from '../../spec/schema-registry.ts';
import { decodeValue, RecordFailure } from '../decode.ts';
import { avroDecoder } from './avro.ts';
import { JsonFieldReader } from './json-fields.ts';
import { jsonSchemaDecoder } from './json-schema.ts';
import { protobufDecoder } from './protobuf.ts';
import {
  type RegisteredSchema,
  type RegistryClient,
  RegistryUnavailableError,
  registryClient,
  SchemaNotFoundError,
} from './registry-client.ts';
import { LruCache } from './schema-cache.ts';
import { HEADER_BYTES, schemaIdOf } from './wire.ts';

export type { SourceFormat };

/** What a waiting batch does while the registry is unreachable. */
export interface WaitHooks {
  /** false once the replica is stopping or lost the partition: give up waiting */
  isRunning(): boolean;
  /** called between attempts (keeps the consumer group membership and the stall watchdog happy) */
  onWait(error: Error, attempt: number, delayMs: number): Promise<void>;
}

export interface ValueDecoder {
  /** Makes every schema the messages name decodable; waits (with back-off) while the registry is unreachable. */
  prepare(messages: readonly KafkaMessage[], hooks: WaitHooks): Promise<void>;
  /** The event of one record; throws a RecordFailure for a record that can never be decoded. */
  decode(value: Buffer | null): unknown;
}

export interface SourceDecoding {
  format: SourceFormat;
  schemaRegistry?: SchemaRegistrySpec;
  messageType?: string;
  /** JSON: the only top-level fields the pipeline reads (RuntimePipeline.source.eventFields) */
  eventFields?: readonly string[];
}

export const plainDecoder = (format: 'json' | 'text'): ValueDecoder => ({
  prepare: async () => {},
  decode: (value) => decodeValue(value, format),
});

/**
 * JSON records of which the pipeline reads only `fields` (top level): those are read from the bytes
 * when that is sure to give what JSON.parse would, the value is decoded whole otherwise (json-fields.ts).
 */
export function jsonFieldsDecoder(fields: readonly string[]): ValueDecoder {
  const reader = new JsonFieldReader(fields);
  return {
    prepare: async () => {},
    decode: (value) => (value === null ? undefined : reader.read(value)) ?? decodeValue(value, 'json'),
  };
}

export function valueDecoderFor(source: SourceDecoding, client?: RegistryClient): ValueDecoder {
  if (source.format === 'json' && source.eventFields) return jsonFieldsDecoder(source.eventFields);
  if (source.format === 'json' || source.format === 'text') return plainDecoder(source.format);
  if (!source.schemaRegistry) throw new Error(`format ${source.format} needs source.schemaRegistry`);
  return new RegistryDecoder(
    source.format,
    client ?? registryClient(source.schemaRegistry),
    source.schemaRegistry.cacheSize,
    source.messageType,
  );
}

type Compiled = ((value: Buffer) => unknown) | RecordFailure;

const EXPECTED_TYPE: Record<string, RegisteredSchema['schemaType']> = {
  avro: 'AVRO',
  protobuf: 'PROTOBUF',
  jsonSchema: 'JSON',
};

const MAX_BACKOFF_MS = 5000;

export class RegistryDecoder implements ValueDecoder {
  private readonly cache: LruCache<number, Compiled>;

  constructor(
    private readonly format: 'avro' | 'protobuf' | 'jsonSchema',
    private readonly client: RegistryClient,
    cacheSize: number,
    private readonly messageType?: string,
    /** which bytes of a record carry the schema id: the value, or the key (`spec.source.key`) */
    private readonly part: 'key' | 'value' = 'value',
  ) {
    this.cache = new LruCache(cacheSize);
  }

  /** `messages` need only the part read (`key` or `value`), e.g. the keys of a batch. */
  async prepare(
    messages: readonly { key?: Buffer | null; value?: Buffer | null }[],
    hooks: WaitHooks,
  ): Promise<void> {
    const missing = new Set<number>();
    for (const message of messages) {
      const value = (this.part === 'key' ? message.key : message.value) ?? null;
      if (value === null || value.length < HEADER_BYTES || value[0] !== 0) continue;
      const id = value.readUInt32BE(1);
      if (!this.cache.has(id)) missing.add(id);
    }
    // More ids than the cache holds would evict each other mid-batch: decode() fetches no more.
    if (missing.size > this.cache.capacity) {
      throw new Error(
        `a batch names ${missing.size} schema ids, more than schemaRegistry.cacheSize (${this.cache.capacity}); raise it`,
      );
    }
    for (const id of missing) {
      let attempt = 0;
      for (;;) {
        try {
          this.cache.set(id, await this.compile(id));
          break;
        } catch (error) {
          if (!(error instanceof RegistryUnavailableError)) throw error;
          attempt++;
          const delayMs = Math.min(MAX_BACKOFF_MS, 200 * 2 ** Math.min(attempt, 5));
          if (!hooks.isRunning()) throw error;
          await hooks.onWait(error, attempt, delayMs);
          await new Promise((r) => setTimeout(r, delayMs));
          if (!hooks.isRunning()) throw error;
        }
      }
    }
  }

  decode(value: Buffer | null): unknown {
    const id = schemaIdOf(value);
    const compiled = this.cache.get(id);
    // prepare() saw every id of the batch; a miss means the caller skipped it.
    if (compiled === undefined) throw new Error(`schema ${id} was not prepared before decoding`);
    if (compiled instanceof RecordFailure) throw compiled;
    return compiled(
      this.format === 'protobuf' ? (value as Buffer) : (value as Buffer).subarray(HEADER_BYTES),
    );
  }

  /** Fetches and parses one writer schema; a schema that is missing or unusable becomes a cached failure. */
  private async compile(id: number): Promise<Compiled> {
    let registered: RegisteredSchema;
    let references: { name: string; schema: string }[];
    try {
      registered = await this.client.schemaById(id);
      references = await this.resolveReferences(registered, new Set());
    } catch (error) {
      if (error instanceof SchemaNotFoundError) {
        return new RecordFailure('parse', `unknown schema id ${id}: ${error.message}`);
      }
      throw error;
    }
    const expected = EXPECTED_TYPE[this.format];
    if (registered.schemaType !== expected) {
      return new RecordFailure(
        'parse',
        `schema ${id} is ${registered.schemaType}, but the pipeline reads format ${this.format}`,
      );
    }
    try {
      if (this.format === 'avro') {
        return avroDecoder(
          registered.schema,
          references.map((r) => r.schema),
        );
      }
      if (this.format === 'protobuf') return protobufDecoder(registered.schema, references, this.messageType);
      return jsonSchemaDecoder(registered.schema, references);
    } catch (error) {
      return new RecordFailure('parse', `schema ${id} cannot be used: ${(error as Error).message}`);
    }
  }

  /** Referenced schemas, dependencies first. */
  private async resolveReferences(
    schema: RegisteredSchema,
    seen: Set<string>,
  ): Promise<{ name: string; schema: string }[]> {
    const out: { name: string; schema: string }[] = [];
    for (const ref of schema.references) {
      const key = `${ref.subject}/${ref.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const referenced = await this.client.schemaBySubjectVersion(ref.subject, ref.version);
      out.push(...(await this.resolveReferences(referenced, seen)), {
        name: ref.name,
        schema: referenced.schema,
      });
    }
    return out;
  }
}
