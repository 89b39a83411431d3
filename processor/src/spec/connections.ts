// Optional connection settings. Credentials never appear inline: they are read from
// Kubernetes Secrets by name (locally, from environment variables; see the docs).
import { z } from 'zod';
import { duration, k8sRules, secretKey, secretKeyString, secretName, strictObject } from './fields.ts';
import { show } from './show.ts';

const secretRef = (what: string, keys: Record<string, string>) =>
  strictObject({
    name: secretName.describe(`Name of the Secret (same namespace) holding ${what}.`),
    ...Object.fromEntries(
      Object.entries(keys).map(([field, dflt]) => [
        field,
        secretKey(dflt).describe(`Key in the Secret (default \`${dflt}\`).`),
      ]),
    ),
  }).describe(`A Secret holding ${what}.`);

const HOST_PORT = '^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\\[[0-9A-Fa-f:.]+\\]:[0-9]{1,5}$';

export const kafkaSchema = strictObject({
  brokers: z
    .array(
      z
        .string()
        .regex(new RegExp(HOST_PORT), { error: (iss) => `expected host:port, got ${show(iss.input)}` }),
      { error: (iss) => `expected a list of host:port, got ${show(iss.input)}` },
    )
    .min(1, { error: "list at least one broker (host:port), or leave brokers out for the platform's Kafka" })
    .optional()
    .describe(
      "Bootstrap brokers as host:port. Default: the platform's Kafka (operator setting or KAFKA_BROKERS).",
    ),
  clientId: z
    .string()
    .min(1, { error: 'must not be empty: leave clientId out for kappaflow-<pipeline>' })
    .max(255)
    .optional()
    .describe(
      'Kafka client id of the processors (default: kappaflow-<pipeline>). The operator passes it to them as KAFKA_CLIENT_ID, which `kappaflow run` also reads.',
    ),
  tls: strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Use TLS. `false`: plaintext, even where the operator-wide Kafka settings file says TLS.'),
    caSecretRef: secretRef('the CA certificate', { key: 'ca.crt' })
      .optional()
      .describe(
        "A Secret holding the CA certificate that signed the brokers' certificates (default: the system's CAs). The operator mounts it into the processors and sets KAFKA_TLS_CA_FILE to the key's file, and reads it for its own admin client.",
      ),
    clientCertSecretRef: secretRef('a client certificate and key (mutual TLS)', {
      certKey: 'tls.crt',
      keyKey: 'tls.key',
    })
      .optional()
      .describe(
        "A Secret holding a client certificate and key (mutual TLS), e.g. a kubernetes.io/tls Secret. The operator mounts it into the processors and sets KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE to the keys' files.",
      ),
  })
    .optional()
    .describe(
      "TLS to the brokers, for this Pipeline's processors and the operator's own lag readings and consumer-group cleanup: replaces the `ssl` of the operator-wide Kafka settings file (`--kafka-config-secret`). The operator sets KAFKA_TLS (`enabled`); with `kappaflow run`, set KAFKA_TLS=true and KAFKA_TLS_CA_FILE, KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE (PEM files) yourself.",
    ),
  sasl: strictObject({
    mechanism: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
        error: (iss) => `expected plain, scram-sha-256 or scram-sha-512, got ${show(iss.input)}`,
      })
      .describe('SASL mechanism (the operator passes it as KAFKA_SASL_MECHANISM).'),
    secretRef: secretRef('the SASL username and password', {
      usernameKey: 'username',
      passwordKey: 'password',
    }),
  })
    .optional()
    .describe(
      "SASL authentication for this Pipeline's processors and the operator's own lag readings and consumer-group cleanup; replaces the `sasl` of the operator-wide Kafka settings file. The credentials come from a Secret, which the operator passes to the processors as KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (with `kappaflow run`, set those and KAFKA_SASL_MECHANISM yourself). SASL over TLS: set `tls` too.",
    ),
}).describe('Kafka connection. Omit to use the platform defaults.');

const CLUSTER_WITH_DATABASE = 'Redis Cluster has only database 0: drop the /<db> from url (or cluster: true)';

export const redisSchema = strictObject({
  url: z
    .string()
    .max(2048)
    .regex(
      /^(rediss?:\/\/[^\s@/,]+(:[0-9]{1,5})?(\/[0-9]{1,2})?|rediss?\+sentinel:\/\/[^\s@/,]+(,[^\s@/,]+)*\/[A-Za-z0-9_.-]+(\?db=[0-9]{1,2})?)$/,
      {
        error: (iss) =>
          String(iss.input).includes('@')
            ? 'the Redis URL must not contain credentials; put the password in a Secret and set redis.secretRef'
            : `expected redis://host:port, rediss://host:port (TLS) or redis+sentinel://host:port,host:port/<masterName>, got ${show(iss.input)}`,
      },
    )
    .optional()
    .describe(
      'redis://host:port (or rediss:// for TLS). With `cluster: true`, any node of the cluster. `redis+sentinel://host:port,host:port/<masterName>[?db=N]` (or `rediss+sentinel://`): the master these Sentinels name, followed through failovers. No credentials here.',
    ),
  cluster: z
    .boolean()
    .default(false)
    .describe(
      'Redis Cluster (keys of a partition share a hash tag, so commits stay atomic): `url` is any node of it. With a rediss:// `url`, TLS to every node. Without `url`, the platform address is used as given (a `redis-cluster://` one for a cluster); with a Sentinel `url`, ignored.',
    ),
  waitForReplicas: z
    .number()
    .int()
    .min(0)
    .max(5)
    .default(0)
    .describe(
      'After each commit, wait (Redis `WAIT`, same round trip) until this many replicas of the partition’s Redis master have it. Sink records and Kafka group offsets of a commit go out only once it is replicated, so a failover to one of those replicas loses nothing acknowledged. 0: no wait (results stay exact through a failover anyway: lost commits are detected and replayed from Kafka). Costs latency per commit; see docs/benchmarks.md.',
    ),
  waitTimeout: duration(1)
    .default('1s')
    .describe(
      'How long one commit waits for `waitForReplicas`; a commit not replicated in time is counted (`kappaflow_redis_unreplicated_commits_total`) and its sink records and Kafka offsets wait for a later commit that is.',
    ),
  secretRef: strictObject({
    name: secretName.describe('Name of the Secret (same namespace) holding the Redis password.'),
    passwordKey: secretKey('password').describe('Key of the password in the Secret (default `password`).'),
    usernameKey: secretKeyString()
      .optional()
      .describe(
        'Key of the Redis ACL username in the Secret, if any (absent: the `default` user). The operator passes it to the processors as REDIS_USERNAME and uses it for its own connections to this Redis.',
      ),
  })
    .optional()
    .describe(
      'A Secret holding the Redis password (and optionally an ACL username); the operator passes them to the processors as REDIS_PASSWORD and REDIS_USERNAME (with `kappaflow run`, set those).',
    ),
})
  .superRefine((r, ctx) => {
    // (with a Sentinel URL, cluster is ignored, as it always was: refusing it now would stop
    // pipelines that run)
    if (r.cluster && r.url !== undefined && /^rediss?:\/\/.*\/[0-9]+$/.test(r.url))
      ctx.addIssue({ code: 'custom', path: ['url'], message: CLUSTER_WITH_DATABASE });
  })
  .meta(
    k8sRules(
      {
        rule: "!has(self.url) || !self.url.contains('@')",
        message: 'no credentials in redis.url; use secretRef',
      },
      {
        rule: "!has(self.cluster) || !self.cluster || !has(self.url) || !self.url.matches('^rediss?://.*/[0-9]+$')",
        message: CLUSTER_WITH_DATABASE,
      },
    ),
  )
  .describe('Redis connection. Omit to use the platform defaults.');
