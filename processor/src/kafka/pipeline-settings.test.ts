import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KafkaSpec } from '../spec/schema.ts';
import { pipelineKafkaSettings } from './pipeline-settings.ts';

describe("pipelineKafkaSettings (a Pipeline's spec.kafka with its Secrets' files and variables)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-pipeline-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const ca = file('ca.crt', 'CA PEM');
  const cert = file('tls.crt', 'CERT PEM');
  const key = file('tls.key', 'KEY PEM');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const spec = (kafka: Partial<KafkaSpec>) => kafka as KafkaSpec;

  it('nothing set: no client id (the caller defaults it) and nothing to replace', () => {
    expect(pipelineKafkaSettings(undefined, {})).toEqual({ security: {} });
  });

  it('the client id from spec.kafka.clientId, else KAFKA_CLIENT_ID', () => {
    expect(pipelineKafkaSettings(spec({ clientId: 'billing' }), {}).clientId).toBe('billing');
    expect(pipelineKafkaSettings(undefined, { KAFKA_CLIENT_ID: 'from-env' }).clientId).toBe('from-env');
    expect(pipelineKafkaSettings(spec({ clientId: 'billing' }), { KAFKA_CLIENT_ID: 'x' }).clientId).toBe(
      'billing',
    );
  });

  it('the variables the operator sets give TLS with the CA and client certificate, and SASL', () => {
    const env = {
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: ca,
      KAFKA_TLS_CERT_FILE: cert,
      KAFKA_TLS_KEY_FILE: key,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    };
    const expected = {
      ssl: { ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM', rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    };
    expect(pipelineKafkaSettings(undefined, env).security).toEqual(expected);
    // the same with the spec in hand (kappaflow run on the file): its fields say the same
    const fromSpec = spec({
      tls: {
        enabled: true,
        caSecretRef: { name: 'ca' },
        clientCertSecretRef: { name: 'c' },
      },
      sasl: {
        mechanism: 'scram-sha-256',
        secretRef: { name: 's' },
      },
    });
    const { KAFKA_TLS: _, KAFKA_SASL_MECHANISM: __, ...files } = env;
    expect(pipelineKafkaSettings(fromSpec, files).security).toEqual(expected);
  });

  it('tls without files is TLS with the system CAs; enabled: false (or KAFKA_TLS=false) turns TLS off', () => {
    expect(pipelineKafkaSettings(spec({ tls: { enabled: true } }), {}).security).toEqual({ ssl: true });
    expect(pipelineKafkaSettings(undefined, { KAFKA_TLS: 'true' }).security).toEqual({ ssl: true });
    expect(pipelineKafkaSettings(spec({ tls: { enabled: false } }), {}).security).toEqual({ ssl: false });
    expect(pipelineKafkaSettings(undefined, { KAFKA_TLS: 'false', KAFKA_TLS_CA_FILE: ca }).security).toEqual({
      ssl: false,
    });
    // a CA file alone means TLS, as REDIS_TLS_CA_FILE does for Redis
    expect(pipelineKafkaSettings(undefined, { KAFKA_TLS_CA_FILE: ca }).security).toEqual({
      ssl: { ca: ['CA PEM'], rejectUnauthorized: true },
    });
  });

  it('says which variable is missing or wrong when the spec asks for a Secret it was not given', () => {
    expect(() =>
      pipelineKafkaSettings(spec({ tls: { enabled: true, caSecretRef: { name: 'ca' } } }), {}),
    ).toThrow(/spec\.kafka\.tls\.caSecretRef is set: give its file\(s\) in KAFKA_TLS_CA_FILE/);
    expect(() =>
      pipelineKafkaSettings(
        spec({
          tls: { enabled: true, clientCertSecretRef: { name: 'c' } },
        }),
        { KAFKA_TLS_CERT_FILE: cert },
      ),
    ).toThrow(/KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE/);
    expect(() =>
      pipelineKafkaSettings(
        spec({
          sasl: {
            mechanism: 'plain',
            secretRef: { name: 's' },
          },
        }),
        { KAFKA_SASL_USERNAME: 'u' },
      ),
    ).toThrow(
      /spec\.kafka\.sasl is set: give the SASL username and password in KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/,
    );
    expect(() =>
      pipelineKafkaSettings(undefined, { KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }),
    ).toThrow(/without a mechanism/);
    expect(() =>
      pipelineKafkaSettings(undefined, {
        KAFKA_SASL_MECHANISM: 'gssapi',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }),
    ).toThrow(/KAFKA_SASL_MECHANISM must be one of plain/);
    expect(() => pipelineKafkaSettings(undefined, { KAFKA_TLS: 'yes' })).toThrow(
      /KAFKA_TLS must be true or false/,
    );
    expect(() => pipelineKafkaSettings(undefined, { KAFKA_TLS_CA_FILE: join(dir, 'nope.crt') })).toThrow(
      /KAFKA_TLS_CA_FILE: cannot read .*nope\.crt \(ENOENT\)/,
    );
  });
});
