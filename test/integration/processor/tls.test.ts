// TLS end to end on real processes: a Kafka SSL listener and a Redis TLS port, both requiring a
// client certificate (mutual TLS), certificates made here with openssl. Replicas connect with the
// settings users give (the Kafka settings file, REDIS_TLS_* files) and count exactly through a
// SIGKILL; a replica given the wrong CA says what to fix, stays up and is not ready.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { ensureDir, runDir } from '../../../harness/paths.ts';
import { pipelineFixture } from '../../../harness/pipeline-fixture.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { waitUntil } from '../../../harness/service.ts';
import { generateTls, type TlsFiles } from '../../../harness/tls.ts';
import { pipelineYaml } from './ground-truth.ts';
import { killScenarioProcesses, runScenario } from './scenario.ts';

const dir = ensureDir(join(runDir, `tls-${Date.now()}`));
let tls: TlsFiles;
let kafka: KafkaCluster;
let redis: RedisDeployment;

/** The environment a user gives a replica for TLS to both (the CA may be the wrong one). */
function tlsEnv(ca: string, name: string): NodeJS.ProcessEnv {
  const settings = join(dir, `${name}.yaml`);
  writeFileSync(settings, `ssl:\n  ca: ${ca}\n  cert: ${tls.clientCert}\n  key: ${tls.clientKey}\n`);
  return {
    KAFKA_BROKERS: kafka.sslBrokers.join(','),
    KAFKA_CONFIG_FILE: settings,
    REDIS_URL: redis.tlsUrl,
    REDIS_TLS_CA_FILE: ca,
    REDIS_TLS_CERT_FILE: tls.clientCert,
    REDIS_TLS_KEY_FILE: tls.clientKey,
  };
}

beforeAll(async () => {
  tls = await generateTls(join(dir, 'certs'));
  const server = { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca };
  [kafka, redis] = await Promise.all([startKafka({ ssl: server }), startRedis({ tls: server })]);
}, 180_000);

afterAll(async () => {
  await killScenarioProcesses();
  await Promise.all([kafka?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('TLS to Kafka and Redis', () => {
  it('processes every record exactly once over mutual TLS to both, through a SIGKILL', async () => {
    const report = await runScenario({
      records: 12_000,
      brokers: kafka.brokers,
      redisUrl: redis.url,
      minKills: 1,
      productionMs: 15_000,
      processorEnv: tlsEnv(tls.ca, 'kafka-tls'),
    });
    console.log('[drill] tls', JSON.stringify(report));
  });

  it('refuses a server signed by another CA: says what to fix, stays up, not ready', async () => {
    const fixture = await pipelineFixture({
      brokers: kafka.brokers,
      redisUrl: redis.url,
      prefix: 'tls-wrong-ca',
      partitions: 1,
      yaml: (name, topic) => pipelineYaml(name, topic),
    });
    await fixture.admin.disconnect();
    const replica = await fixture.spawn('wrong-ca', tlsEnv(tls.otherCa, 'kafka-wrong-ca'));
    try {
      const log = () => readFileSync(replica.logFile, 'utf8');
      await waitUntil(
        'both refusals logged with what to fix',
        async () =>
          /Kafka refused the TLS connection: .*set ssl\.ca in the Kafka settings file/.test(log()) &&
          /Redis refused the TLS connection: .*set REDIS_TLS_CA_FILE to the CA certificate/.test(log()),
        { timeoutMs: 90_000, intervalMs: 500, service: replica },
      );
      // Not a crash loop: the replica keeps running (and retrying), alive and not ready, sampled
      // over several seconds.
      for (let i = 0; i < 5; i++) {
        expect(replica.child.exitCode).toBeNull();
        expect((await fetch(`http://127.0.0.1:${replica.port}/healthz`)).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${replica.port}/readyz`)).status).toBe(503);
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      await replica.kill();
    }
  });
});
