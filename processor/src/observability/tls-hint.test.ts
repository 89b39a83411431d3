import { describe, expect, it } from 'vitest';
import { tlsHint } from './tls-hint.ts';

const settings = { ca: 'REDIS_TLS_CA_FILE', clientCert: 'REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE' };

describe('tlsHint', () => {
  it('names the CA setting when the server certificate is not trusted', () => {
    for (const error of [
      { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' },
      { code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' },
      'Connection error: unable to get local issuer certificate',
    ])
      expect(tlsHint(error, settings)).toMatch(/set REDIS_TLS_CA_FILE to the CA certificate/);
  });

  it('names the client certificate settings when the server refuses the client', () => {
    expect(tlsHint('write EPROTO ... tlsv13 alert certificate required', settings)).toMatch(
      /set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE/,
    );
    expect(tlsHint({ message: 'sslv3 alert bad certificate' }, settings)).toMatch(/client certificate/);
  });

  it('explains host name mismatches, expiry and plain ports, and is silent about other failures', () => {
    expect(tlsHint({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'x' }, settings)).toMatch(
      /subjectAltName/,
    );
    expect(tlsHint({ code: 'CERT_HAS_EXPIRED', message: 'x' }, settings)).toMatch(/renew/);
    expect(tlsHint('SSL routines::wrong version number', settings)).toMatch(/TLS port/);
    expect(tlsHint({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:6379' }, settings)).toBe(
      undefined,
    );
  });
});
