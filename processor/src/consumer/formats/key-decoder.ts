// Turns record keys into `record.key` (`spec.source.key.format`). `string` is what every pipeline
// saw before the option existed; the other formats reuse the value decoders, so a key in JSON or
// the Schema Registry wire format reads exactly like a value in that format would.
import type { KafkaMessage } from 'kafkajs';
import type { KeyDecoding } from '../../model/source-format.ts';
import type { SchemaRegistrySpec } from '../../spec/schema-registry.ts';
import { decodeValue, RecordFailure } from '../decode.ts';
import type { RegistryClient } from './registry-client.ts';
import { registryClient } from './registry-client.ts';
import { RegistryDecoder, type WaitHooks } from './value-decoder.ts';

/** On the repartition topic: the source record's key (the Kafka key there is the group key). */
export const SOURCE_KEY_HEADER = 'kf-source-key';
/** On the repartition topic: the source record had no key. */
export const NO_SOURCE_KEY_HEADER = 'kf-source-no-key';

/** The bytes `record.key` is decoded from: the source record's key, also after repartitioning. */
export function sourceKeyOf(message: KafkaMessage, rekeyed: boolean): Buffer | null {
  if (!rekeyed) return message.key ?? null;
  const header = message.headers?.[SOURCE_KEY_HEADER];
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined) return typeof value === 'string' ? Buffer.from(value) : value;
  if (message.headers?.[NO_SOURCE_KEY_HEADER] !== undefined) return null;
  // Written by a version before these headers (still in the topic after an upgrade): as it read them.
  return message.key ?? null;
}

export interface KeyDecoder {
  /** true when keys are decoded eagerly (and may fail): every format but `string` and `none` */
  readonly strict: boolean;
  /** Makes every schema the keys name decodable (registry formats); as ValueDecoder.prepare. */
  prepare(messages: readonly KafkaMessage[], hooks: WaitHooks): Promise<void>;
  /** `record.key` of one record: null without a key; throws a `key-decode` RecordFailure. */
  decode(key: Buffer | null): unknown;
}

export interface KeySource {
  key?: KeyDecoding;
  /** reading the repartition topic: keys come from the `kf-source-key` header */
  rekeyed?: boolean;
  schemaRegistry?: SchemaRegistrySpec;
}

const utf8Key: KeyDecoder = {
  strict: false,
  prepare: async () => {},
  decode: (key) => (key ? key.toString('utf8') : null),
};

const noKey: KeyDecoder = { strict: false, prepare: async () => {}, decode: () => null };

export function keyDecoderFor(source: KeySource, client?: RegistryClient): KeyDecoder {
  const format = source.key?.format ?? 'string';
  if (format === 'string') return utf8Key;
  if (format === 'none') return noKey;
  if (format === 'json') {
    return {
      strict: true,
      prepare: async () => {},
      decode: (key) => decodeStrict(key, (k) => decodeValue(k, 'json')),
    };
  }
  if (!source.schemaRegistry) throw new Error(`key.format ${format} needs source.schemaRegistry`);
  const registry = new RegistryDecoder(
    format,
    client ?? registryClient(source.schemaRegistry),
    source.schemaRegistry.cacheSize,
    source.key?.messageType,
    'key',
  );
  return {
    strict: true,
    prepare: (messages, hooks) =>
      registry.prepare(
        messages.map((m) => ({ key: sourceKeyOf(m, source.rekeyed === true) })),
        hooks,
      ),
    decode: (key) => decodeStrict(key, (k) => registry.decode(k)),
  };
}

/** A present key decoded by `decode`, any failure re-labelled `key-decode` (the decoders speak of "the value"). */
function decodeStrict(key: Buffer | null, decode: (key: Buffer) => unknown): unknown {
  if (key === null) return null;
  try {
    return decode(key);
  } catch (error) {
    // as for values (fold-batch), whatever a decoder throws makes the record a dead letter
    const message = (error as Error)?.message ?? String(error);
    throw new RecordFailure('key-decode', `key: ${message.replace(/\bthe value\b/g, 'the key')}`);
  }
}
