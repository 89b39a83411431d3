// `spec.source.schemaRegistry`: where the writer schemas of Avro, Protobuf and JSON Schema records
// live (Confluent wire format: magic byte 0, 4-byte schema id, payload). Credentials never appear
// inline: they come from a file or an environment variable (on Kubernetes, from a Secret).
import { z } from 'zod';
import { REGISTRY_CREDENTIALS_ENV, SINK_REGISTRY_CREDENTIALS_ENV } from '../model/source-format.ts';
import { k8sRules, secretKey, secretName, strictObject } from './fields.ts';
import { show } from './show.ts';

export { REGISTRY_CREDENTIALS_ENV, SINK_REGISTRY_CREDENTIALS_ENV };

/** `auth` of a registry whose credentials, without a file, come from the variable `env`. */
const registryAuthSchema = (env: string) =>
  strictObject({
    type: z
      .enum(['basic', 'bearer'], { error: (iss) => `expected basic or bearer, got ${show(iss.input)}` })
      .describe(
        '`basic`: the credentials are `username:password` (HTTP Basic). `bearer`: the credentials are a token (`Authorization: Bearer`).',
      ),
    file: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe(
        `File holding the credentials (surrounding whitespace is ignored). Without it they come from the environment variable \`${env}\`.`,
      ),
    secretRef: strictObject({
      name: secretName.describe('Name of the Secret (same namespace) holding the credentials.'),
      key: secretKey('credentials').describe('Key in the Secret (default `credentials`).'),
    })
      .optional()
      .describe(
        `On Kubernetes: a Secret whose key holds the credentials; the operator passes it to the processors as \`${env}\`.`,
      ),
  })
    .superRefine((a, ctx) => {
      if (a.file !== undefined && a.secretRef !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['file'], message: 'give either file or secretRef, not both' });
      }
    })
    .meta(
      k8sRules({
        rule: '!(has(self.file) && has(self.secretRef))',
        message: 'give either file or secretRef',
      }),
    )
    .describe('Authentication to the registry.');

export const schemaRegistryAuthSchema = registryAuthSchema(REGISTRY_CREDENTIALS_ENV);

export const schemaRegistrySchema = strictObject({
  url: z
    .string({
      error: (iss) => `expected the registry URL, e.g. http://registry:8081, got ${show(iss.input)}`,
    })
    .max(2048)
    .regex(/^https?:\/\/[^\s@/]+(\/[^\s@]*)?$/, {
      error: (iss) =>
        String(iss.input).includes('@')
          ? 'the registry URL must not contain credentials; use schemaRegistry.auth'
          : `expected http://host:port or https://host:port (optionally with a path such as /apis/ccompat/v7), got ${show(iss.input)}`,
    })
    .describe(
      'Base URL of a Confluent-compatible Schema Registry API (Confluent, Apicurio `/apis/ccompat/v7`, Karapace, Redpanda...). No credentials here.',
    ),
  subject: z
    .string({ error: (iss) => `expected a subject name, e.g. page-views-value, got ${show(iss.input)}` })
    .min(1)
    .max(255)
    .optional()
    .describe(
      'Subject whose latest schema describes `event` (e.g. `page-views-value`). Only `kappaflow validate --registry <url>` (or `--spec-registry`) reads it: it checks every `event.<field>` in the expressions against that schema. Decoding always uses the schema id in each record.',
    ),
  auth: schemaRegistryAuthSchema.optional(),
  tls: strictObject({
    caFile: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe('PEM file of the CA that signed the registry certificate (default: the system CAs).'),
  })
    .optional()
    .describe('TLS settings for an `https://` URL.'),
  cacheSize: z
    .number({ error: (iss) => `expected a whole number, got ${show(iss.input)}` })
    .int()
    .min(1, { error: 'cacheSize must be at least 1' })
    .max(100_000, { error: 'cacheSize must be at most 100000' })
    .default(1000)
    .describe(
      'How many writer schemas (by id) each processor keeps decoded in memory; the least recently used is dropped first.',
    ),
})
  .meta(
    k8sRules({
      rule: "!self.url.contains('@')",
      message: 'no credentials in schemaRegistry.url; use auth',
    }),
  )
  .describe(
    'The Schema Registry holding the writer schemas of `avro`, `protobuf` and `jsonSchema` records. Each schema is fetched once by id and cached.',
  );

export type SchemaRegistrySpec = z.output<typeof schemaRegistrySchema>;

/** `spec.sink.schemaRegistry`: where `format: avro` registers the sink schema (its own credentials). */
export const sinkRegistrySchema = strictObject({
  url: schemaRegistrySchema.shape.url,
  auth: registryAuthSchema(SINK_REGISTRY_CREDENTIALS_ENV).optional(),
  tls: schemaRegistrySchema.shape.tls,
})
  .meta(
    k8sRules({
      rule: "!self.url.contains('@')",
      message: 'no credentials in schemaRegistry.url; use auth',
    }),
  )
  .describe(
    'Where `format: avro` registers the sink schema; default: `source.schemaRegistry` (with its credentials).',
  );

export type SinkRegistrySpec = z.output<typeof sinkRegistrySchema>;
