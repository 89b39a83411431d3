import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { redisTlsFromEnv } from './redis-tls.ts';

const dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('redisTlsFromEnv', () => {
  it('is undefined without settings, and reads the CA, certificate and key files', () => {
    expect(redisTlsFromEnv({})).toBeUndefined();
    const env = {
      REDIS_TLS_CA_FILE: file('a-ca.pem', 'CA'),
      REDIS_TLS_CERT_FILE: file('a-cert.pem', 'CERT'),
      REDIS_TLS_KEY_FILE: file('a-key.pem', 'KEY'),
    };
    expect(redisTlsFromEnv(env)).toEqual({ ca: ['CA'], cert: 'CERT', key: 'KEY' });
  });

  it('reads ca.crt, tls.crt and tls.key from REDIS_TLS_DIR; the *_FILE variables win', () => {
    file('ca.crt', 'DIR-CA');
    expect(redisTlsFromEnv({ REDIS_TLS_DIR: dir })).toEqual({ ca: ['DIR-CA'] });
    file('tls.crt', 'DIR-CERT');
    file('tls.key', 'DIR-KEY');
    expect(redisTlsFromEnv({ REDIS_TLS_DIR: dir, REDIS_TLS_CA_FILE: file('b.pem', 'OWN') })).toEqual({
      ca: ['OWN'],
      cert: 'DIR-CERT',
      key: 'DIR-KEY',
    });
  });

  it('says what to fix: a certificate without its key, a file that cannot be read', () => {
    expect(() => redisTlsFromEnv({ REDIS_TLS_CERT_FILE: file('c.pem', 'C') })).toThrow(
      /set both REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE/,
    );
    expect(() => redisTlsFromEnv({ REDIS_TLS_CA_FILE: join(dir, 'missing.pem') })).toThrow(
      /REDIS_TLS_CA_FILE=.*missing\.pem cannot be read.*mount the file or fix the path/,
    );
  });
});
