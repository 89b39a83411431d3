// The operator's own Kafka admin client for a Pipeline whose brokers accept only that Pipeline's
// credentials (spec.kafka.sasl / spec.kafka.tls, read from its Secrets), with no operator-wide
// Kafka settings file: a real operator process against a real kube-apiserver, a Kafka with a
// SASL/PLAIN listener and a mutual-TLS listener, and Redis. Lag readings (status.lag, the
// autoscaler's input) and the delete policy's consumer-group cleanup must reach those brokers; a
// wrong password must show as Degraded/MetricsUnavailable, not as a lag.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { type KubeApi, kubeBinariesBuilt, startKubeApi } from '../../../harness/kube.ts';
import {
  createSecret,
  kubeWithPipelineCrd,
  serviceAccountKubeconfig,
} from '../../../harness/kube-pipelines.ts';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ServiceProcess, startProcess, waitUntil } from '../../../harness/service.ts';
import { generateTls, type TlsFiles } from '../../../harness/tls.ts';
import type { KubeClient, KubeObject } from '../../../operator/src/kube/client.ts';
import { paths } from '../../../operator/src/kube/client.ts';
import { OPERATOR_RULES } from '../../../operator/src/rbac.ts';
import { consumerGroupOf } from '../../../processor/src/model/kafka-names.ts';

const NS = 'default';
const USER = 'kappaflow';
const PASSWORD = `k-${randomBytes(6).toString('hex')}`;
// 30 records on partition 0 and 20 on partition 1, no checkpoint yet: a lag of 50
const RECORDS = 50;

interface Pipeline extends KubeObject {
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    lag?: number;
  };
}

const setupTimeout = kubeBinariesBuilt() ? 300_000 : 30 * 60_000;

describe("the operator reaches a Pipeline's secured Kafka with the Pipeline's own Secrets", () => {
  const id = randomBytes(3).toString('hex');
  const topic = `secured-admin-${id}`;
  const dir = ensureDir(join(runDir, `pipeline-kafka-admin-${id}`));
  let tls: TlsFiles;
  let kafka: KafkaCluster;
  let api: KubeApi;
  let kube: KubeClient;
  let operator: ServiceProcess;

  const secret = (name: string, texts: Record<string, string>) => createSecret(kube, NS, name, texts);
  const pipeline = (name: string, kafkaSpec: Record<string, unknown>) =>
    kube.create(paths.pipelines(NS), {
      apiVersion: 'kappaflow.io/v1alpha1',
      kind: 'Pipeline',
      metadata: { name, namespace: NS, annotations: { 'kappaflow.io/deletion-policy': 'delete' } },
      spec: {
        source: { topic, format: 'json', eventTime: { field: 'ts' }, startFrom: 'earliest' },
        kafka: kafkaSpec,
        window: { type: 'tumbling', size: '10s', grace: '1h' },
        aggregates: { events: { count: {} } },
        scaling: { minReplicas: 1, maxReplicas: 1 },
      },
    });
  /** The operator process with this kubeconfig, its own Lease, and more env (e.g. KAFKA_CONFIG_FILE). */
  const startOperator = async (name: string, kubeconfig: string, env: NodeJS.ProcessEnv = {}) => {
    const port = await freePort();
    const proc = startProcess(
      name,
      process.execPath,
      [
        join(repoRoot, 'bin', 'kappaflow.js'),
        'operator',
        '--kubeconfig',
        kubeconfig,
        '--namespaces',
        NS,
        '--image',
        'kappaflow:test',
        '--lease-namespace',
        NS,
        '--lease-name',
        name,
        '--scale-interval',
        '2',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
      ],
      {
        logFile: join(dir, `${name}.log`),
        env: {
          KAFKA_BROKERS: kafka.brokers.join(','),
          REDIS_URL: inject('redisUrl'),
          LOG_LEVEL: 'info',
          ...env,
        },
      },
    );
    await waitUntil(`${name} /healthz`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
      service: proc,
      timeoutMs: 60_000,
    });
    return proc;
  };
  const statusOf = async (name: string) => (await kube.getOrNull<Pipeline>(paths.pipeline(NS, name)))?.status;
  const degraded = (s: Pipeline['status']) => s?.conditions?.find((c) => c.type === 'Degraded');

  beforeAll(async () => {
    tls = await generateTls(join(dir, 'certs'));
    [kafka, api] = await Promise.all([
      startKafka({
        sasl: { username: USER, password: PASSWORD },
        ssl: { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca },
      }),
      startKubeApi(),
    ]);
    kube = await kubeWithPipelineCrd(api, NS);
    // The fixture goes through the broker's PLAINTEXT listener, which the Pipelines do not name.
    const setup = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
    const admin = setup.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = setup.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: RECORDS }, (_, i) => ({
        partition: i < 30 ? 0 : 1,
        value: JSON.stringify({ ts: Date.UTC(2026, 0, 1) + i }),
      })),
    });
    await producer.disconnect();

    await secret('kafka-user', { username: USER, password: PASSWORD });
    await secret('kafka-wrong', { username: USER, password: 'not-it' });
    await secret('kafka-ca', { 'ca.crt': readFileSync(tls.ca, 'utf8') });
    await secret('kafka-client', {
      'tls.crt': readFileSync(tls.clientCert, 'utf8'),
      'tls.key': readFileSync(tls.clientKey, 'utf8'),
    });

    // No --kafka-config: the operator-wide settings would open no secured listener. The operator
    // runs with exactly its RBAC rules (OPERATOR_RULES, which may read Secrets).
    operator = await startOperator(
      'operator',
      await serviceAccountKubeconfig({
        api,
        kube,
        namespace: NS,
        name: 'operator-full',
        rules: OPERATOR_RULES,
        dir,
      }),
    );
  }, setupTimeout);

  afterAll(async () => {
    await operator?.stop(5000);
    kube?.close();
    await Promise.all([api?.stop(), kafka?.stop()]);
  }, 120_000);

  it('SASL/PLAIN from spec.kafka.sasl: status.lag is read, and deletion removes the consumer group', async () => {
    const name = `sasl-${id}`;
    // A committed offset for the version's group, so the delete policy has a group to remove.
    const plain = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await plain.connect();
    try {
      await plain.setOffsets({
        groupId: consumerGroupOf(name, 1),
        topic,
        partitions: [{ partition: 0, offset: '5' }],
      });
      await pipeline(name, {
        brokers: kafka.saslBrokers,
        sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user' } },
      });
      await waitUntil(
        `${name}: status.lag = ${RECORDS}`,
        async () => (await statusOf(name))?.lag === RECORDS,
        {
          service: operator,
          timeoutMs: 120_000,
          intervalMs: 500,
        },
      );
      expect(degraded(await statusOf(name))?.reason).not.toBe('MetricsUnavailable');

      await kube.delete(paths.pipeline(NS, name));
      await waitUntil(
        `${name} deleted (its finalizer done)`,
        async () => (await statusOf(name)) === undefined,
        {
          service: operator,
          timeoutMs: 120_000,
          intervalMs: 500,
        },
      );
      const { groups } = await plain.listGroups();
      expect(groups.map((g) => g.groupId)).not.toContain(consumerGroupOf(name, 1));
    } finally {
      await plain.disconnect();
    }
  });

  it('mutual TLS from spec.kafka.tls (CA and client certificate Secrets): status.lag is read', async () => {
    const name = `mtls-${id}`;
    await pipeline(name, {
      brokers: kafka.sslBrokers,
      tls: { caSecretRef: { name: 'kafka-ca' }, clientCertSecretRef: { name: 'kafka-client' } },
    });
    await waitUntil(`${name}: status.lag = ${RECORDS}`, async () => (await statusOf(name))?.lag === RECORDS, {
      service: operator,
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    expect(degraded(await statusOf(name))?.reason).not.toBe('MetricsUnavailable');
  });

  it('a wrong password or a missing Secret: Degraded/MetricsUnavailable naming the cause, no lag', async () => {
    const wrong = `wrong-${id}`;
    const missing = `missing-${id}`;
    await pipeline(wrong, {
      brokers: kafka.saslBrokers,
      sasl: { mechanism: 'plain', secretRef: { name: 'kafka-wrong' } },
    });
    await pipeline(missing, {
      brokers: kafka.sslBrokers,
      tls: { caSecretRef: { name: 'no-such-secret' } },
    });
    for (const [name, cause] of [
      [wrong, /Kafka: .*(SASL|[Aa]uthentication)/],
      [missing, /Kafka: spec\.kafka\.tls\.caSecretRef: cannot read Secret no-such-secret/],
    ] as const) {
      await waitUntil(
        `${name}: Degraded=True MetricsUnavailable`,
        async () => degraded(await statusOf(name))?.reason === 'MetricsUnavailable',
        { service: operator, timeoutMs: 120_000, intervalMs: 500 },
      );
      const status = await statusOf(name);
      expect(degraded(status)?.message).toMatch(cause);
      expect(status?.lag).toBeUndefined();
    }
  });

  it("without RBAC to read Secrets (the chart's default): the operator's own Kafka settings instead", async () => {
    // Another operator in its place, allowed everything but Secrets, whose settings file holds the
    // right SASL credentials; the Pipeline names a Secret with a wrong password, which would fail if
    // it were read.
    await operator.stop(5000);
    const settings = join(dir, 'operator-kafka.yaml');
    writeFileSync(settings, `sasl:\n  mechanism: plain\n  username: ${USER}\n  password: ${PASSWORD}\n`);
    const rules = OPERATOR_RULES.filter((r) => !r.resources.includes('secrets'));
    operator = await startOperator(
      'operator-no-secrets',
      await serviceAccountKubeconfig({ api, kube, namespace: NS, name: 'operator-no-secrets', rules, dir }),
      { KAFKA_CONFIG_FILE: settings },
    );
    const name = `fallback-${id}`;
    await pipeline(name, {
      brokers: kafka.saslBrokers,
      sasl: { mechanism: 'plain', secretRef: { name: 'kafka-wrong' } },
    });
    await waitUntil(`${name}: status.lag = ${RECORDS}`, async () => (await statusOf(name))?.lag === RECORDS, {
      service: operator,
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    expect(degraded(await statusOf(name))?.reason).not.toBe('MetricsUnavailable');
  });
});
