// A Pipeline's own connection settings, from the operator's rendering to a real processor: the pod
// the operator renders (ConfigMap, env, Secret volumes; resources.ts) is played here with fake
// Secrets (secretKeyRef env resolved, Secret volumes written to folders), and a real `kappaflow run`
// then connects to a Kafka that requires SASL/PLAIN or mutual TLS (per spec.kafka.sasl/tls), with
// the spec's Kafka client id, and to a Redis that accepts only an ACL user (spec.redis.secretRef
// with usernameKey).
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type KafkaCluster, startKafka } from '../../../harness/kafka.ts';
import { ensureDir, runDir } from '../../../harness/paths.ts';
import { freePort } from '../../../harness/ports.ts';
import { type ProcessorProcess, spawnProcessor } from '../../../harness/processor.ts';
import { type RedisDeployment, startRedis } from '../../../harness/redis.ts';
import { waitUntil } from '../../../harness/service.ts';
import { generateTls, type TlsFiles } from '../../../harness/tls.ts';
import {
  CONFIG_FILE,
  desiredConfigMap,
  desiredDeployment,
  type PipelineObject,
  type ProcessorSettings,
} from '../../../operator/src/resources.ts';
import { consumerGroupOf } from '../../../processor/src/model/kafka-names.ts';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';

const KAFKA_USER = 'kappaflow';
const KAFKA_PASSWORD = `k-${randomBytes(6).toString('hex')}`;
const DEFAULT_PASSWORD = `d-${randomBytes(6).toString('hex')}`;
const ACL_USER = 'pipeline-writer';
const ACL_PASSWORD = `a-${randomBytes(6).toString('hex')}`;
const RECORDS = 20;

const dir = ensureDir(join(runDir, `pipeline-connections-${randomBytes(3).toString('hex')}`));
let tls: TlsFiles;
let kafka: KafkaCluster;
let redis: RedisDeployment;
let secrets: Record<string, Record<string, string>>;
const replicas: ProcessorProcess[] = [];

beforeAll(async () => {
  tls = await generateTls(join(dir, 'certs'));
  [kafka, redis] = await Promise.all([
    startKafka({
      sasl: { username: KAFKA_USER, password: KAFKA_PASSWORD },
      ssl: { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca },
    }),
    startRedis({ password: DEFAULT_PASSWORD }),
  ]);
  // An ACL user with its own password: the default user's password does not open it, so a processor
  // that leaves the username out is refused.
  const admin = connectRedis(redis.url, { password: DEFAULT_PASSWORD });
  await admin.call('ACL', 'SETUSER', ACL_USER, 'on', `>${ACL_PASSWORD}`, '~*', '&*', '+@all');
  await admin.quit();
  secrets = {
    'kafka-user': { username: KAFKA_USER, password: KAFKA_PASSWORD },
    'kafka-ca': { 'ca.crt': readFileSync(tls.ca, 'utf8') },
    'kafka-client': {
      'client.pem': readFileSync(tls.clientCert, 'utf8'),
      'client-key.pem': readFileSync(tls.clientKey, 'utf8'),
    },
    'redis-acl': { user: ACL_USER, pass: ACL_PASSWORD },
  };
}, 240_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
  await Promise.all([kafka?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

interface Container {
  env: Array<{
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
  }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  volumes: Array<{ name: string; secret?: { secretName: string } }>;
}

/**
 * Plays the kubelet for the operator's rendering of `p`: writes its ConfigMap's pipeline file and
 * its Secret volumes into a folder, resolves its env (Secret keys, the pod name), and points mount
 * paths at the folder. Then starts `kappaflow run` on it as the container would.
 */
async function runAsPod(p: PipelineObject): Promise<ProcessorProcess> {
  const settings: ProcessorSettings = {
    image: 'unused',
    kafkaBrokers: kafka.brokers.join(','),
    redisUrl: inject('redisUrl'),
  };
  const podDir = ensureDir(join(dir, p.metadata.name));
  const data = desiredConfigMap(p, 1).data as Record<string, string>;
  writeFileSync(join(podDir, CONFIG_FILE), data[CONFIG_FILE]!);
  const pod = (
    desiredDeployment(p, 1, 1, 'fp', settings) as unknown as { spec: { template: { spec: PodSpec } } }
  ).spec.template.spec;
  const container = pod.containers[0]!;
  const paths: [string, string][] = [];
  for (const mount of container.volumeMounts) {
    const secretName = pod.volumes.find((v) => v.name === mount.name)?.secret?.secretName;
    if (!secretName) continue;
    const at = ensureDir(join(podDir, mount.name));
    for (const [key, value] of Object.entries(secrets[secretName] ?? {})) writeFileSync(join(at, key), value);
    paths.push([mount.mountPath, at]);
  }
  const local = (value: string) => {
    for (const [mountPath, at] of paths)
      if (value.startsWith(`${mountPath}/`)) return at + value.slice(mountPath.length);
    return value;
  };
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const value = secrets[ref.name]?.[ref.key];
      if (value === undefined)
        throw new Error(`the pod refers to a missing Secret key ${ref.name}/${ref.key}`);
      env[e.name] = value;
    } else if (e.valueFrom?.fieldRef) env[e.name] = `${p.metadata.name}-pod`;
    else env[e.name] = local(e.value ?? '');
  }
  delete env.PORT; // the harness gives the port and host on the command line
  const replica = await spawnProcessor({
    file: join(podDir, CONFIG_FILE),
    brokers: kafka.brokers,
    redisUrl: inject('redisUrl'),
    port: await freePort(),
    name: `${p.metadata.name}-pod`,
    logDir: podDir,
    env,
  });
  replicas.push(replica);
  return replica;
}

/** A pipeline reading `topic` (made here over the PLAINTEXT listener, with RECORDS records). */
async function pipelineOn(
  name: string,
  connections: Pick<PipelineObject['spec'], 'kafka' | 'redis'>,
): Promise<PipelineObject> {
  const setup = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING });
  const admin = setup.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = setup.producer();
  await producer.connect();
  await producer.send({
    topic: name,
    messages: Array.from({ length: RECORDS }, (_, i) => ({ value: JSON.stringify({ page: `/p${i % 3}` }) })),
  });
  await producer.disconnect();
  return {
    apiVersion: 'kappaflow.io/v1alpha1',
    kind: 'Pipeline',
    metadata: { name, namespace: 'team', uid: `uid-${name}` },
    spec: {
      source: { topic: name, format: 'json', startFrom: 'earliest' },
      groupBy: { page: 'event.page' },
      window: { type: 'tumbling', size: '1m' },
      aggregates: { views: { count: {} } },
      ...connections,
    },
  };
}

/** The client ids of the members of the pipeline's consumer group, once it has members. */
async function groupClientIds(name: string): Promise<string[]> {
  const admin = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    let ids: string[] = [];
    await waitUntil(
      `a member in the consumer group of ${name}`,
      async () => {
        const { groups } = await admin.describeGroups([consumerGroupOf(name, 1)]);
        ids = groups[0]?.members.map((m) => m.clientId) ?? [];
        return ids.length > 0;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    return ids;
  } finally {
    await admin.disconnect();
  }
}

async function checkpointReaches(name: string, url: string, password?: string): Promise<void> {
  const reader = connectRedis(url, password ? { password } : {});
  try {
    await waitUntil(
      `${name}'s checkpoint at ${RECORDS}`,
      async () =>
        (await reader.hget(keys.checkpoint(partitionPrefix(name, 1, '0')), 'offset')) === String(RECORDS),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  } finally {
    await reader.quit();
  }
}

describe("a Pipeline's own Kafka and Redis settings reach its processors", () => {
  it('spec.kafka.sasl, spec.kafka.clientId and spec.redis.secretRef.usernameKey (Redis ACL user)', async () => {
    const name = `sasl-${randomBytes(3).toString('hex')}`;
    const p = await pipelineOn(name, {
      kafka: {
        brokers: kafka.saslBrokers,
        clientId: `billing-${name}`,
        sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user' } },
      },
      redis: {
        url: redis.url,
        secretRef: { name: 'redis-acl', passwordKey: 'pass', usernameKey: 'user' },
      },
    });
    const replica = await runAsPod(p);
    expect(await groupClientIds(name)).toEqual([`billing-${name}`]);
    await checkpointReaches(name, redis.url, DEFAULT_PASSWORD);
    // The processor's Redis connections are the ACL user's.
    const admin = connectRedis(redis.url, { password: DEFAULT_PASSWORD });
    try {
      const clients = String(await admin.call('CLIENT', 'LIST'));
      expect(clients).toMatch(new RegExp(`user=${ACL_USER}\\b`));
    } finally {
      await admin.quit();
    }
    await waitUntil('ready', async () => (await fetch(`http://127.0.0.1:${replica.port}/readyz`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
  });

  it('spec.kafka.tls (CA and client certificate Secrets): mutual TLS, default client id', async () => {
    const name = `mtls-${randomBytes(3).toString('hex')}`;
    const p = await pipelineOn(name, {
      kafka: {
        brokers: kafka.sslBrokers,
        tls: {
          caSecretRef: { name: 'kafka-ca' },
          clientCertSecretRef: { name: 'kafka-client', certKey: 'client.pem', keyKey: 'client-key.pem' },
        },
      },
    });
    await runAsPod(p);
    expect(await groupClientIds(name)).toEqual([`kappaflow-${name}`]);
    await checkpointReaches(name, inject('redisUrl'));
  });
});
