// TLS through the operator, as a cluster runs it: Kafka with an SSL listener and Redis with a TLS
// port, both requiring client certificates (mutual TLS); the operator started with the chart's
// settings (--kafka-config-secret, --redis-tls-secret, a rediss:// URL, SSL brokers only) against
// a real kube-apiserver; its processor Pods get the Secrets as volumes (written to disk by the node
// harness) and the env naming them, and count every record exactly once through a SIGKILL.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { type KubeApi, startKubeApi } from '../../../harness/kube.ts';
import { createSecret, kubeWithPipelineCrd } from '../../../harness/kube-pipelines.ts';
import { type NodeHarness, startNodeHarness } from '../../../harness/node-harness.ts';
import { ensureDir, repoRoot, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { type ServiceProcess, startProcess, waitUntil } from '../../../harness/service.ts';
import { generateTls, type TlsFiles } from '../../../harness/tls.ts';
import { type KubeClient, type KubeObject, paths } from '../../../operator/src/kube/client.ts';
import { childName, versionName } from '../../../operator/src/resources.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { fieldOf, groupKeyOf, keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const NS = 'default';
const PARTITIONS = 3;
const WINDOW_MS = 10_000;
const RECORDS = 30_000;

interface Pipeline extends KubeObject {
  status?: { conditions?: { type: string; status: string; message?: string }[]; lag?: number };
}
interface PodSpecView extends KubeObject {
  spec: {
    template: {
      spec: {
        containers: { env: { name: string; value?: string }[]; volumeMounts?: { mountPath: string }[] }[];
        volumes?: { name: string; secret?: { secretName: string } }[];
      };
    };
  };
}

describe('TLS through the operator and its processor pods', () => {
  const id = randomUUID().slice(0, 6);
  const name = `tls-ops-${id}`;
  const topic = `tls-ops-events-${id}`;
  const dir = ensureDir(join(runDir, `operator-tls-${id}`));
  let tls: TlsFiles;
  let kafkaCluster: KafkaCluster;
  let redisDeployment: RedisDeployment;
  let api: KubeApi;
  let kube: KubeClient;
  let harness: NodeHarness;
  let operator: ServiceProcess;
  let redis: RedisClient;

  const secret = (secretName: string, files: Record<string, string>) =>
    createSecret(kube, NS, secretName, files);
  const pem = (path: string) => readFileSync(path, 'utf8');

  beforeAll(async () => {
    tls = await generateTls(join(dir, 'certs'));
    const server = { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca };
    [kafkaCluster, redisDeployment, api] = await Promise.all([
      startKafka({ ssl: server }),
      startRedis({ tls: server }),
      startKubeApi(),
    ]);
    kube = await kubeWithPipelineCrd(api, NS);
    // The test's own clients use the plain listeners the harness keeps for checks.
    const admin = new Kafka({ brokers: kafkaCluster.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    await admin.disconnect();
    redis = connectRedis(redisDeployment.url);

    // The Secrets as docs/install.md tells users to make them: the Kafka settings file with its
    // certificates beside it (relative paths), and the Redis CA and client certificate.
    await secret('kafka-client', {
      'kafka.yaml': 'ssl:\n  ca: ca.crt\n  cert: tls.crt\n  key: tls.key\n',
      'ca.crt': pem(tls.ca),
      'tls.crt': pem(tls.clientCert),
      'tls.key': pem(tls.clientKey),
    });
    await secret('redis-tls', {
      'ca.crt': pem(tls.ca),
      'tls.crt': pem(tls.clientCert),
      'tls.key': pem(tls.clientKey),
    });

    harness = await startNodeHarness({
      kubeconfig: api.kubeconfig,
      namespace: NS,
      logDir: join(dir, 'pods'),
    });
    // The operator's own Kafka admin and Redis reads go over TLS too (the chart mounts the same
    // Secrets in its pod).
    const operatorKafka = join(dir, 'operator-kafka.yaml');
    writeFileSync(
      operatorKafka,
      `ssl:\n  ca: ${tls.ca}\n  cert: ${tls.clientCert}\n  key: ${tls.clientKey}\n`,
    );
    const port = await freePort();
    operator = startProcess(
      'operator',
      process.execPath,
      [
        join(repoRoot, 'bin', 'kappaflow.js'),
        'operator',
        '--kubeconfig',
        api.kubeconfigPath,
        '--namespaces',
        NS,
        '--image',
        'kappaflow:e2e',
        '--lease-namespace',
        NS,
        '--scale-interval',
        '2',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--kafka-config-secret',
        'kafka-client',
        '--redis-tls-secret',
        'redis-tls',
        '--processor-env',
        JSON.stringify({ LOG_LEVEL: 'warn' }),
      ],
      {
        logFile: join(dir, 'operator.log'),
        env: {
          KAFKA_BROKERS: kafkaCluster.sslBrokers.join(','),
          KAFKA_CONFIG_FILE: operatorKafka,
          REDIS_URL: redisDeployment.tlsUrl!,
          REDIS_TLS_CA_FILE: tls.ca,
          REDIS_TLS_CERT_FILE: tls.clientCert,
          REDIS_TLS_KEY_FILE: tls.clientKey,
          LOG_LEVEL: 'info',
        },
      },
    );
    await waitUntil('operator /healthz', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
      service: operator,
      timeoutMs: 60_000,
    });
  }, 360_000);

  afterAll(async () => {
    await operator?.stop(5000);
    await harness?.stop();
    redis?.disconnect();
    kube?.close();
    await Promise.all([api?.stop(), kafkaCluster?.stop(), redisDeployment?.stop()]);
  }, 120_000);

  it('processor pods get the Secrets and count every record exactly once over mutual TLS, through a SIGKILL', {
    timeout: 420_000,
  }, async () => {
    await kube.create(paths.pipelines(NS), {
      apiVersion: 'kappaflow.io/v1alpha1',
      kind: 'Pipeline',
      metadata: { name, namespace: NS, annotations: { 'kappaflow.io/deletion-policy': 'delete' } },
      spec: {
        source: { topic, format: 'json', eventTime: { field: 'ts' }, startFrom: 'earliest' },
        window: { type: 'tumbling', size: `${WINDOW_MS / 1000}s`, grace: '1h' },
        aggregates: { events: { count: {} } },
        scaling: { minReplicas: 1, maxReplicas: 1 },
      },
    });
    await waitUntil(
      'Ready=True (the processor connected to Kafka and Redis over TLS)',
      async () =>
        (await kube.getOrNull<Pipeline>(paths.pipeline(NS, name)))?.status?.conditions?.find(
          (c) => c.type === 'Ready',
        )?.status === 'True',
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    const deployment = await kube.get<PodSpecView>(paths.deployment(NS, versionName(name, 1)));
    const pod = deployment.spec.template.spec;
    const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      KAFKA_BROKERS: kafkaCluster.sslBrokers.join(','),
      KAFKA_CONFIG_FILE: '/etc/kappaflow/kafka/kafka.yaml',
      REDIS_URL: redisDeployment.tlsUrl,
      REDIS_TLS_DIR: '/etc/kappaflow/redis-tls',
    });
    expect(pod.volumes?.map((v) => v.secret?.secretName)).toEqual(
      expect.arrayContaining(['kafka-client', 'redis-tls']),
    );

    const expected = new Map<number, number>();
    const base = Date.UTC(2026, 0, 1);
    const producer = new Kafka({ brokers: kafkaCluster.brokers, logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    const send = async (from: number, to: number) => {
      for (let i = from; i < to; i += 2000) {
        const messages = [];
        for (let j = i; j < Math.min(to, i + 2000); j++) {
          const ts = base + (j % 120) * 1000;
          const start = ts - (ts % WINDOW_MS);
          expected.set(start, (expected.get(start) ?? 0) + 1);
          messages.push({ partition: j % PARTITIONS, value: `{"ts":${ts},"n":${j}}` });
        }
        await producer.send({ topic, messages });
      }
    };
    const committed = async () => {
      let total = 0;
      for (let p = 0; p < PARTITIONS; p++)
        total += Number((await redis.hget(keys.checkpoint(partitionPrefix(name, 1, p)), 'offset')) ?? 0);
      return total;
    };
    await send(0, RECORDS / 2);
    // SIGKILL the processor mid-stream, once it has committed some but not all of the first half;
    // the node harness restarts it (restartPolicy Always) and it resumes from its Redis checkpoint.
    await waitUntil('the first commits over TLS', async () => (await committed()) > 0, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const [victim] = harness.running().filter((r) => r.pod.startsWith(childName(name)));
    expect(victim).toBeDefined();
    const secondHalf = send(RECORDS / 2, RECORDS);
    victim!.process.child.kill('SIGKILL');
    await secondHalf;
    await producer.disconnect();
    await waitUntil(
      'the container restarted in its Pod',
      async () =>
        harness
          .running()
          .some(
            (r) =>
              r.pod === victim!.pod && r.process.child.pid !== victim!.process.child.pid && r.restarts >= 1,
          ),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    await waitUntil(
      'every record checkpointed after the restart',
      async () => (await committed()) === RECORDS,
      { timeoutMs: 240_000, intervalMs: 500 },
    );

    const observed = new Map<number, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      const prefix = partitionPrefix(name, 1, p);
      for (const start of await redis.zrange(keys.windows(prefix), 0, -1)) {
        const v = await redis.hget(keys.window(prefix, Number(start)), fieldOf('events', groupKeyOf([])));
        observed.set(Number(start), (observed.get(Number(start)) ?? 0) + Number(v ?? 0));
      }
    }
    expect(observed).toEqual(expected);
  });
});
