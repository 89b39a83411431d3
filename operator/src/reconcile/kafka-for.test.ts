import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineKafkaSettings } from '../../../processor/src/kafka/pipeline-settings.ts';
import { kafkaSecretRefs } from '../kafka-secret-refs.ts';
import { KubeError } from '../kube/client.ts';
import { type PipelineObject, processorEnv } from '../resources.ts';
import { PipelineSecretError, pipelineKafkaSecurity, securityOrFallback } from './kafka-for.ts';
import type { SecretReader } from './secret-reader.ts';

const secrets: Record<string, Record<string, string>> = {
  'kafka-ca': { 'ca.crt': 'CA PEM', 'other.crt': 'OTHER CA PEM' },
  'kafka-client': { 'tls.crt': 'CERT PEM', 'tls.key': 'KEY PEM', 'c.pem': 'C', 'k.pem': 'K' },
  'kafka-user': { username: 'alice', password: 's3cret', u: 'bob', pw: 'hunter2' },
};
const read: SecretReader = async (name, key) => {
  const secret = secrets[name];
  if (!secret) throw new Error(`secrets "${name}" not found`);
  return secret[key];
};
const security = (kafka: PipelineObject['spec']['kafka']) =>
  pipelineKafkaSecurity(kafkaSecretRefs(kafka), read);

describe("the operator's Kafka settings for a Pipeline (spec.kafka Secrets)", () => {
  it('without tls or sasl: nothing of its own (the settings file applies)', async () => {
    expect(await security(undefined)).toEqual({});
    expect(await security({ brokers: ['k:9092'], clientId: 'x' })).toEqual({});
  });

  it('tls: {} is TLS with the system CAs; enabled: false turns it off, ignoring its Secrets', async () => {
    expect(await security({ tls: {} })).toEqual({ ssl: true });
    expect(await security({ tls: { enabled: false, caSecretRef: { name: 'missing' } } })).toEqual({
      ssl: false,
    });
  });

  it('reads the CA and client certificate from the default keys, or the keys the spec names', async () => {
    expect(
      await security({
        tls: { caSecretRef: { name: 'kafka-ca' }, clientCertSecretRef: { name: 'kafka-client' } },
      }),
    ).toEqual({ ssl: { ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM', rejectUnauthorized: true } });
    expect(
      await security({
        tls: {
          caSecretRef: { name: 'kafka-ca', key: 'other.crt' },
          clientCertSecretRef: { name: 'kafka-client', certKey: 'c.pem', keyKey: 'k.pem' },
        },
      }),
    ).toEqual({ ssl: { ca: ['OTHER CA PEM'], cert: 'C', key: 'K', rejectUnauthorized: true } });
  });

  it('reads the SASL credentials from the default keys, or the keys the spec names', async () => {
    expect(
      await security({ sasl: { mechanism: 'scram-sha-512', secretRef: { name: 'kafka-user' } } }),
    ).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 's3cret' } });
    expect(
      await security({
        tls: {},
        sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user', usernameKey: 'u', passwordKey: 'pw' } },
      }),
    ).toEqual({ ssl: true, sasl: { mechanism: 'plain', username: 'bob', password: 'hunter2' } });
  });

  it('names the spec field, the Secret and the key when one is missing', async () => {
    await expect(security({ tls: { caSecretRef: { name: 'nope' } } })).rejects.toThrow(
      /spec\.kafka\.tls\.caSecretRef: cannot read Secret nope/,
    );
    await expect(
      security({ sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user', passwordKey: 'pass' } } }),
    ).rejects.toThrow('spec.kafka.sasl.secretRef: Secret kafka-user has no key pass');
  });

  it('a Secret the operator may not read: its own settings instead, saying why; a missing one only on deletion', async () => {
    const forbidden: SecretReader = async (name) => {
      throw new KubeError(
        403,
        'Forbidden',
        `secrets "${name}" is forbidden`,
        'GET',
        `/api/v1/namespaces/x/secrets/${name}`,
      );
    };
    const refs = kafkaSecretRefs({ sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user' } } });
    const r = await securityOrFallback(refs, forbidden, false);
    expect(r.security).toEqual({});
    expect(r.fallback).toMatch(
      /spec\.kafka\.sasl\.secretRef: cannot read Secret kafka-user: .*forbidden.*; used the operator's own Kafka settings instead \(.*rbac\.readPipelineSecrets\)/,
    );
    const missing = kafkaSecretRefs({ tls: { caSecretRef: { name: 'nope' } } });
    await expect(securityOrFallback(missing, read, false)).rejects.toBeInstanceOf(PipelineSecretError);
    expect((await securityOrFallback(missing, read, true)).fallback).toMatch(/cannot read Secret nope/);
    // readable: the Pipeline's own settings, no fallback
    expect(await securityOrFallback(refs, read, false)).toEqual({
      security: { sasl: { mechanism: 'plain', username: 'alice', password: 's3cret' } },
    });
  });
});

/**
 * The operator's settings for a Pipeline equal what its processor builds from the env and Secret
 * files the operator renders into the pod (processorEnv; the Secrets' files written as the kubelet
 * mounts them).
 */
describe('the operator and the processors turn spec.kafka into the same kafkajs settings', () => {
  const files = mkdtempSync(join(tmpdir(), 'kf-kafka-parity-'));
  const settings = { image: 'kappaflow:test', kafkaBrokers: 'k:9092', redisUrl: 'redis://r:6379' };
  const specs: PipelineObject['spec']['kafka'][] = [
    { tls: {} },
    { tls: { enabled: false, caSecretRef: { name: 'kafka-ca' } } },
    { tls: { caSecretRef: { name: 'kafka-ca' } } },
    {
      tls: {
        caSecretRef: { name: 'kafka-ca', key: 'other.crt' },
        clientCertSecretRef: { name: 'kafka-client' },
      },
    },
    { tls: { clientCertSecretRef: { name: 'kafka-client', certKey: 'c.pem', keyKey: 'k.pem' } } },
    { sasl: { mechanism: 'scram-sha-256', secretRef: { name: 'kafka-user' } } },
    {
      tls: {},
      sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user', usernameKey: 'u', passwordKey: 'pw' } },
    },
  ];
  for (const kafka of specs) {
    it(JSON.stringify(kafka), async () => {
      const p = {
        metadata: { name: 'parity', namespace: 'ns' },
        spec: { kafka },
      } as unknown as PipelineObject;
      const env: NodeJS.ProcessEnv = {};
      for (const e of processorEnv(p, 1, settings) as {
        name: string;
        value?: string;
        valueFrom?: { secretKeyRef?: { name: string; key: string } };
      }[]) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) env[e.name] = secrets[ref.name]![ref.key];
        else if (e.value !== undefined && /^\/etc\/kappaflow\/kafka-tls-(ca|client)\//.test(e.value)) {
          // a mounted Secret key: the file the kubelet would write
          const [, dir, key] = /^\/etc\/kappaflow\/kafka-tls-(ca|client)\/(.+)$/.exec(e.value)!;
          const secret =
            dir === 'ca'
              ? (kafka?.tls?.caSecretRef?.name ?? '')
              : (kafka?.tls?.clientCertSecretRef?.name ?? '');
          const file = join(files, `${secret}-${key}`);
          writeFileSync(file, secrets[secret]![key!]!);
          env[e.name] = file;
        } else if (e.value !== undefined) env[e.name] = e.value;
      }
      const processor = pipelineKafkaSettings(undefined, env).security;
      const operator = await pipelineKafkaSecurity(kafkaSecretRefs(kafka), read);
      expect(operator).toEqual(processor);
    });
  }
});
