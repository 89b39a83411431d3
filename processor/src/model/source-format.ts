/** How a record value becomes `event` (`spec.source.format`); the spec validates it. */
export const SOURCE_FORMATS = ['json', 'text', 'avro', 'protobuf', 'jsonSchema'] as const;

export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/** The formats whose records name their writer schema in a Schema Registry (Confluent wire format). */
export const REGISTRY_FORMATS: readonly SourceFormat[] = ['avro', 'protobuf', 'jsonSchema'];

/** The variable the processor reads registry credentials from when no `auth.file` is given. */
export const REGISTRY_CREDENTIALS_ENV = 'KAPPAFLOW_SCHEMA_REGISTRY_CREDENTIALS';

/** The same for `spec.sink.schemaRegistry`, which may be another registry with other credentials. */
export const SINK_REGISTRY_CREDENTIALS_ENV = 'KAPPAFLOW_SINK_SCHEMA_REGISTRY_CREDENTIALS';

/** `spec.source.schemaRegistry` as the processor uses it. */
export interface SchemaRegistrySettings {
  url: string;
  auth?: { type: 'basic' | 'bearer'; file?: string; secretRef?: { name: string; key: string } };
  tls?: { caFile?: string };
  cacheSize: number;
}

/** How a record key becomes `record.key` (`spec.source.key.format`); the spec validates it. */
export const KEY_FORMATS = ['string', 'json', 'avro', 'protobuf', 'jsonSchema', 'none'] as const;

export type KeyFormat = (typeof KEY_FORMATS)[number];

/** `spec.source.key` as the processor uses it (absent: `string`, the key as UTF-8 text). */
export interface KeyDecoding {
  format: KeyFormat;
  /** `protobuf` only: the message every key is decoded as */
  messageType?: string;
}
