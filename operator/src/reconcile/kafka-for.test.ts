import { describe, expect, it } from 'vitest';
import { kafkaSecretRefs } from '../kafka-secret-refs.ts';
import type { PipelineObject } from '../resources.ts';
import { pipelineKafkaSecurity } from './kafka-for.ts';
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
});
