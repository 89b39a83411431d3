import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './paths.ts';
import { run } from './service.ts';

export interface TlsFiles {
  /** the CA certificate that signed the server and client certificates */
  ca: string;
  /** server certificate and key for 127.0.0.1 (IP SAN), for Redis and the Kafka SSL listener */
  serverCert: string;
  serverKey: string;
  /** client certificate and key, for mutual TLS */
  clientCert: string;
  clientKey: string;
  /** a CA that signed nothing here: a client trusting only it must refuse the servers */
  otherCa: string;
}

/**
 * Generates a CA, a server certificate for 127.0.0.1 and a client certificate with openssl in
 * `dir` (keys unencrypted PKCS#8, which both redis-server and Kafka's PEM stores read).
 */
export async function generateTls(dir: string): Promise<TlsFiles> {
  ensureDir(dir);
  const f = (name: string) => join(dir, name);
  const ca = async (name: string) => {
    await run('openssl', [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'],
      ...['-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-subj', `/CN=kappaflow test ${name}`],
    ]);
  };
  await ca('ca');
  await ca('other-ca');
  const leaf = async (name: string, extensions: string[]) => {
    writeFileSync(f(`${name}.ext`), `${extensions.join('\n')}\n`);
    await run('openssl', [
      ...['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)],
      ...['-subj', `/CN=kappaflow test ${name}`],
    ]);
    await run('openssl', [
      ...['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key')],
      ...['-CAcreateserial', '-days', '2', '-out', f(`${name}.crt`), '-extfile', f(`${name}.ext`)],
    ]);
  };
  await leaf('server', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'extendedKeyUsage=serverAuth,clientAuth',
  ]);
  await leaf('client', ['extendedKeyUsage=clientAuth']);
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    otherCa: f('other-ca.crt'),
  };
}
