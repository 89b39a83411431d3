import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';

/** The settings a user gives for Redis TLS, named in errors and docs. */
export const REDIS_TLS_SETTINGS = {
  ca: 'REDIS_TLS_CA_FILE',
  clientCert: 'REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE',
};

/**
 * TLS settings of rediss:// connections from PEM files named by the environment:
 * REDIS_TLS_CA_FILE (the CA that signed the Redis server's certificate; default: the system's CAs),
 * REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE (a client certificate, for Redis with
 * `tls-auth-clients yes`). REDIS_TLS_DIR names a folder holding them as ca.crt, tls.crt and tls.key
 * (a mounted kubernetes.io/tls Secret); the *_FILE variables win. Undefined when none is set.
 */
export function redisTlsFromEnv(env: NodeJS.ProcessEnv): ConnectionOptions | undefined {
  // REDIS_TLS_DIR: a mounted Secret laid out like kubernetes.io/tls (ca.crt, tls.crt, tls.key).
  const dir = env.REDIS_TLS_DIR;
  const inDir = (file: string) => (dir && existsSync(join(dir, file)) ? join(dir, file) : undefined);
  const ca = env.REDIS_TLS_CA_FILE || inDir('ca.crt');
  const cert = env.REDIS_TLS_CERT_FILE || inDir('tls.crt');
  const key = env.REDIS_TLS_KEY_FILE || inDir('tls.key');
  if (!ca && !cert && !key) return undefined;
  if (Boolean(cert) !== Boolean(key)) {
    throw new Error(
      'set both REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE (a client certificate and its key), or neither',
    );
  }
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(
        `${name}=${file} cannot be read (${(error as Error).message}); mount the file or fix the path`,
      );
    }
  };
  return {
    ...(ca ? { ca: [read('REDIS_TLS_CA_FILE', ca)] } : {}),
    ...(cert && key ? { cert: read('REDIS_TLS_CERT_FILE', cert), key: read('REDIS_TLS_KEY_FILE', key) } : {}),
  };
}
