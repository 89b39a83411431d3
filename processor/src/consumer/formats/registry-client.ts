// A small client for the one call decoding needs, GET /schemas/ids/{id} (plus the subject versions
// that Protobuf imports and Avro named types reference). node:http(s) instead of a client library:
// it takes a CA file and an Authorization header, and tells "unknown id" from "unreachable".
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { REGISTRY_CREDENTIALS_ENV, type SchemaRegistrySpec } from '../../spec/schema-registry.ts';

export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

export interface SchemaReference {
  name: string;
  subject: string;
  version: number;
}

export interface RegisteredSchema {
  schemaType: SchemaType;
  schema: string;
  references: SchemaReference[];
}

/** The registry answered that the schema does not exist: the record can never be decoded. */
export class SchemaNotFoundError extends Error {}

/** The registry could not be asked (down, timeout, 5xx, refused credentials): try again later. */
export class RegistryUnavailableError extends Error {}

/**
 * The registry refused to register a schema: 409, not compatible with the subject's versions under
 * its compatibility level, or 422, not a valid schema. Asking again only helps once someone changes
 * the subject (its compatibility, its versions), so callers say what to change.
 */
export class RegistryRefusedError extends RegistryUnavailableError {
  constructor(
    message: string,
    readonly status: 409 | 422,
  ) {
    super(message);
  }
}

export interface RegistryClient {
  schemaById(id: number): Promise<RegisteredSchema>;
  /** `latest` is the newest version of the subject. */
  schemaBySubjectVersion(subject: string, version: number | 'latest'): Promise<RegisteredSchema>;
}

/** What the Avro sink needs besides reading. */
export interface SchemaRegistrar {
  /** Registers an Avro schema under `subject` (or finds it registered) and returns its id. */
  register(subject: string, schema: string): Promise<number>;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** The Authorization header value, read once at start: a missing file or variable stops the processor. */
export function authorizationOf(
  auth: SchemaRegistrySpec['auth'],
  env: NodeJS.ProcessEnv = process.env,
  variable: string = REGISTRY_CREDENTIALS_ENV,
  /** where the settings are in the spec, for the messages */
  path = 'source.schemaRegistry',
): string | undefined {
  if (!auth) return undefined;
  let credentials: string | undefined;
  if (auth.file !== undefined) {
    try {
      credentials = readFileSync(auth.file, 'utf8').trim();
    } catch (error) {
      throw new Error(
        `${path}.auth.file: cannot read ${auth.file} (${(error as Error).message}); mount the credentials there`,
      );
    }
  } else {
    credentials = env[variable]?.trim();
    if (!credentials) {
      throw new Error(
        `${path}.auth: set ${variable} (or auth.file) to the registry ${auth.type === 'basic' ? 'username:password' : 'token'}`,
      );
    }
  }
  if (auth.type === 'bearer') return `Bearer ${credentials}`;
  if (!credentials.includes(':')) {
    throw new Error(`${path}.auth: basic credentials must be username:password`);
  }
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

export function registryClient(
  spec: Pick<SchemaRegistrySpec, 'url' | 'auth' | 'tls'>,
  env: NodeJS.ProcessEnv = process.env,
  credentialsEnv: string = REGISTRY_CREDENTIALS_ENV,
  /** where the settings are in the spec, for the messages */
  path = 'source.schemaRegistry',
): RegistryClient & SchemaRegistrar {
  const base = spec.url.replace(/\/+$/, '');
  const authorization = authorizationOf(spec.auth, env, credentialsEnv, path);
  const ca = spec.tls?.caFile ? readCa(spec.tls.caFile, path) : undefined;
  const secure = base.startsWith('https:');
  const agent = secure
    ? new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) })
    : new http.Agent({ keepAlive: true });

  /**
   * One call: the parsed JSON body of a 200 answer; 404 is SchemaNotFoundError, a registration's 409
   * or 422 RegistryRefusedError, anything else unavailable.
   */
  const call = (method: 'GET' | 'POST', path: string, what: string, body?: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(
        `${base}${path}`,
        {
          method,
          agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: {
            accept: 'application/vnd.schemaregistry.v1+json, application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/vnd.schemaregistry.v1+json' }),
            ...(authorization ? { authorization } : {}),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => (text += chunk));
          response.on('error', (error) => reject(new RegistryUnavailableError(error.message)));
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            if (status === 404) {
              reject(new SchemaNotFoundError(`the schema registry has no ${what}`));
              return;
            }
            if ((status === 409 || status === 422) && method === 'POST') {
              reject(
                new RegistryRefusedError(
                  `the schema registry refused the ${what} (${status}): ${text.slice(0, 300)}`,
                  status,
                ),
              );
              return;
            }
            if (status !== 200) {
              reject(
                new RegistryUnavailableError(
                  `the schema registry answered ${status} for ${what}: ${text.slice(0, 200)}`,
                ),
              );
              return;
            }
            try {
              resolve(JSON.parse(text));
            } catch (error) {
              reject(
                new RegistryUnavailableError(
                  `the schema registry answered ${what} with something that is not JSON: ${(error as Error).message}`,
                ),
              );
            }
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      request.on('error', (error) =>
        reject(
          new RegistryUnavailableError(`the schema registry at ${base} is unreachable: ${error.message}`),
        ),
      );
      request.end(body);
    });

  const get = async (path: string, what: string): Promise<RegisteredSchema> => {
    const parsed = (await call('GET', path, what)) as Partial<RegisteredSchema> & { schemaType?: string };
    if (typeof parsed?.schema !== 'string') {
      throw new RegistryUnavailableError(
        `the schema registry answered ${what} with something that is not a schema: no "schema" field`,
      );
    }
    return {
      schemaType: (parsed.schemaType ?? 'AVRO') as SchemaType,
      schema: parsed.schema,
      references: parsed.references ?? [],
    };
  };

  return {
    schemaById: (id) => get(`/schemas/ids/${id}`, `schema with id ${id}`),
    schemaBySubjectVersion: (subject, version) =>
      get(
        `/subjects/${encodeURIComponent(subject)}/versions/${version}`,
        `version ${version} of subject ${subject}`,
      ),
    async register(subject, schema) {
      const what = `registration of a schema under ${subject}`;
      const answer = (await call(
        'POST',
        `/subjects/${encodeURIComponent(subject)}/versions`,
        what,
        JSON.stringify({ schemaType: 'AVRO', schema }),
      )) as { id?: unknown };
      if (typeof answer?.id !== 'number') {
        throw new RegistryUnavailableError(`the schema registry answered the ${what} without an id`);
      }
      return answer.id;
    },
  };
}

function readCa(file: string, path: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(
      `${path}.tls.caFile: cannot read ${file} (${(error as Error).message}); mount the CA certificate there`,
    );
  }
}
