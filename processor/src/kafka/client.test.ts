import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaSecurityConfig } from './client.ts';

describe('kafkaSecurityConfig (the Kafka settings file processors and the operator share)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-settings-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the certificate files an ssl mapping names, and passes sasl through', () => {
    const ca = file('ca.crt', 'CA PEM');
    const cert = file('client.crt', 'CERT PEM');
    const key = file('client.key', 'KEY PEM');
    const settings = file(
      'full.yaml',
      `ssl:\n  ca: ${ca}\n  cert: ${cert}\n  key: ${key}\nsasl:\n  mechanism: scram-sha-512\n  username: u\n  password: p\n`,
    );
    expect(kafkaSecurityConfig(settings)).toEqual({
      ssl: { ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM', rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
    });
  });

  it('reads relative certificate paths beside the settings file, whatever the working directory', () => {
    const folder = join(dir, 'mounted-secret');
    mkdirSync(folder);
    writeFileSync(join(folder, 'ca.crt'), 'CA PEM');
    writeFileSync(join(folder, 'tls.crt'), 'CERT PEM');
    writeFileSync(join(folder, 'tls.key'), 'KEY PEM');
    const settings = join(folder, 'kafka.yaml');
    writeFileSync(settings, 'ssl:\n  ca: ca.crt\n  cert: ./tls.crt\n  key: tls.key\n');
    expect(process.cwd()).not.toBe(folder);
    expect(kafkaSecurityConfig(settings)).toEqual({
      ssl: { ca: ['CA PEM'], cert: 'CERT PEM', key: 'KEY PEM', rejectUnauthorized: true },
    });
  });

  it('a certificate file that cannot be read names the settings file, the field and the path', () => {
    const settings = file('missing-ca.yaml', 'ssl:\n  ca: nowhere/ca.crt\n');
    expect(() => kafkaSecurityConfig(settings)).toThrow(
      /missing-ca\.yaml: ssl\.ca: cannot read .*nowhere\/ca\.crt \(ENOENT\)/,
    );
  });

  it('ssl: true, rejectUnauthorized, and an empty file', () => {
    expect(kafkaSecurityConfig(file('tls.yaml', 'ssl: true\n'))).toEqual({ ssl: true });
    expect(kafkaSecurityConfig(file('insecure.yaml', 'ssl:\n  rejectUnauthorized: false\n'))).toEqual({
      ssl: { rejectUnauthorized: false },
    });
    expect(kafkaSecurityConfig(file('empty.yaml', ''))).toEqual({});
  });

  it('names the file and the field in its errors', () => {
    const bad = file('bad.yaml', 'sasl:\n  mechanism: kerberos\n  username: u\n  password: p\n');
    expect(() => kafkaSecurityConfig(bad)).toThrow(/bad\.yaml: sasl\.mechanism must be one of plain/);
    expect(() => kafkaSecurityConfig(file('list.yaml', '- ssl\n'))).toThrow(/list\.yaml: expected a mapping/);
    const missing = file('missing-ca.yaml', `ssl:\n  ca: ${join(dir, 'nope.crt')}\n`);
    expect(() => kafkaSecurityConfig(missing)).toThrow(/ENOENT/);
  });
});
