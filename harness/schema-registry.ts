/**
 * A real Schema Registry serving the Confluent REST API, for Avro, Protobuf and JSON Schema topics.
 *
 * Apicurio Registry (the first choice, a Quarkus app on Maven Central) cannot be resolved from the
 * Maven Central these machines reach: its own modules `apicurio-registry-schema-util-provider`
 * (every 3.x/2.x version the app needs) and the matching `apicurio-registry` parent POMs are not
 * served, so no version of the app builds. Confluent's registry is not on Maven Central and
 * Karapace is not on PyPI. The closest real registry that can run is rivven-schema, an
 * Apache-2.0 Confluent-compatible registry (Avro, Protobuf, JSON Schema, in-memory storage) on
 * crates.io: built once with cargo into the cache (like the Kafka jars), then started on a free
 * loopback port.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, ensureDir, runDir } from './paths.ts';
import { freePort } from './ports.ts';
import { withProgress } from './progress.ts';
import { run, type ServiceProcess, startProcess, waitUntil } from './service.ts';

const REGISTRY_CRATE = 'rivven-schema';
const REGISTRY_VERSION = '0.0.22';
const installDir = join(cacheDir, 'schema-registry', `${REGISTRY_CRATE}-${REGISTRY_VERSION}`);
const binary = join(installDir, 'bin', REGISTRY_CRATE);

/** Builds the registry from crates.io into the cache (once; a few minutes on two cores). */
export async function ensureSchemaRegistry(): Promise<string> {
  const stamp = join(installDir, '.complete');
  if (existsSync(stamp) && existsSync(binary)) return binary;
  await withProgress(
    `Building the ${REGISTRY_CRATE} ${REGISTRY_VERSION} Schema Registry with cargo`,
    () =>
      run(
        'cargo',
        ['install', REGISTRY_CRATE, '--version', REGISTRY_VERSION, '--locked', '--root', installDir],
        {
          // kept between attempts so an interrupted build resumes instead of starting over
          env: { CARGO_TARGET_DIR: join(cacheDir, 'schema-registry', 'target') },
        },
      ),
    '5-20 min',
  );
  if (!existsSync(binary)) throw new Error(`cargo install finished but ${binary} is missing`);
  writeFileSync(stamp, new Date().toISOString());
  rmSync(join(cacheDir, 'schema-registry', 'target'), { recursive: true, force: true });
  return binary;
}

export interface SchemaRegistryServer {
  /** base URL of the Confluent-compatible API, `http://127.0.0.1:port` */
  url: string;
  port: number;
  process: ServiceProcess;
  /** Stops the registry (SIGTERM, or SIGKILL with `kill`); `start()` brings it back on the same port. */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts it again after stop(): storage is in memory, so schemas must be registered again. */
  start(): Promise<void>;
  /** Stops it for good and removes its log folder (unless started with `keep`). */
  close(): Promise<void>;
}

/** Starts the registry with in-memory storage on a free loopback port. */
export async function startSchemaRegistry(
  options: { detached?: boolean; keep?: boolean } = {},
): Promise<SchemaRegistryServer> {
  const bin = await ensureSchemaRegistry();
  const dataDir = ensureDir(join(runDir, `schema-registry-${Date.now()}-${randomBytes(3).toString('hex')}`));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const launch = () =>
    startProcess(
      'schema-registry',
      bin,
      // NONE: tests register incompatible versions on purpose (mid-stream changes of every kind).
      ['serve', '--host', '127.0.0.1', '--port', String(port), '--compatibility', 'NONE'],
      { logFile: join(dataDir, 'schema-registry.log'), detached: options.detached ?? false },
    );
  const server: SchemaRegistryServer = {
    url,
    port,
    process: launch(),
    async stop(stopOptions = {}) {
      if (stopOptions.kill) await server.process.kill();
      else await server.process.stop(10_000);
    },
    async start() {
      server.process = launch();
      await waitForRegistry(url, server.process);
    },
    async close() {
      await server.process.stop(10_000);
      if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await waitForRegistry(url, server.process);
  return server;
}

async function waitForRegistry(url: string, service: ServiceProcess): Promise<void> {
  await waitUntil(
    `the schema registry at ${url}`,
    async () => (await fetch(`${url}/subjects`)).status === 200,
    { timeoutMs: 60_000, intervalMs: 200, service },
  );
}

export type RegistrySchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

/**
 * Sets a subject's compatibility level. Tests use NONE: they change schemas on purpose, and this
 * registry's check mistakes two equal timestamp-millis fields for incompatible ones.
 */
export async function setCompatibility(url: string, subject: string, level = 'NONE'): Promise<void> {
  const response = await fetch(`${url}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: level }),
  });
  if (!response.ok) throw new Error(`setting ${subject}'s compatibility answered ${response.status}`);
}

/** Registers a schema under a subject (as a producer's serializer does, compatibility NONE) and returns its id. */
export async function registerSchema(
  url: string,
  subject: string,
  schema: string,
  schemaType: RegistrySchemaType = 'AVRO',
  references: { name: string; subject: string; version: number }[] = [],
): Promise<number> {
  await setCompatibility(url, subject);
  const response = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema, schemaType, ...(references.length ? { references } : {}) }),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`registering ${subject} answered ${response.status}: ${body}`);
  return (JSON.parse(body) as { id: number }).id;
}
