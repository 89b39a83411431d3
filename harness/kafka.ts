import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { cacheDir, ensureDir, repoRoot, runDir } from './paths.ts';
import { freePorts } from './ports.ts';
import { withProgress } from './progress.ts';
import { run, type ServiceProcess, type StartedProcess, startProcess, waitUntil } from './service.ts';

const libsDir = join(cacheDir, 'kafka', 'libs');
const pom = join(repoRoot, 'harness', 'kafka', 'pom.xml');

/** Resolves Apache Kafka's jars from Maven Central into the cache (once). */
export async function ensureKafkaJars(): Promise<string> {
  const stamp = join(libsDir, '.complete');
  if (existsSync(stamp)) return libsDir;
  await withProgress(
    'Downloading Apache Kafka jars from Maven Central',
    () =>
      run('mvn', [
        '-q',
        '-B',
        '-f',
        pom,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${libsDir}`,
        '-DincludeScope=runtime',
      ]),
    '10-60s',
  );
  if (!readdirSync(libsDir).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new Error(`Maven finished but no kafka_2.13 jar is in ${libsDir}; check ${pom}`);
  }
  writeFileSync(stamp, new Date().toISOString());
  return libsDir;
}

export interface KafkaBroker {
  nodeId: number;
  port: number;
  controllerPort: number;
  process: ServiceProcess;
}

export interface KafkaCluster {
  /** bootstrap addresses, `127.0.0.1:port` */
  brokers: string[];
  /** with the `sasl` option: the SASL_PLAINTEXT listeners' addresses (SASL/PLAIN with its user) */
  saslBrokers: string[];
  /** with the `ssl` option: the SSL listeners' addresses (mutual TLS) */
  sslBrokers: string[];
  nodes: KafkaBroker[];
  dataDir: string;
  /** Stops (SIGTERM) or kills (SIGKILL) broker `index` and starts it again on the same ports and data. */
  restartBroker(index: number, options?: { kill?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

const log4jConfig = `rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
`;

/**
 * Starts a real Apache Kafka cluster in KRaft mode (every node is broker and controller) on free
 * loopback ports. `brokers: 3` gives a replicated cluster for failure tests.
 */
export async function startKafka(
  options: {
    brokers?: number;
    keep?: boolean;
    detached?: boolean;
    /**
     * Adds a SASL_PLAINTEXT listener per broker (in `saslBrokers`) that accepts SASL/PLAIN with this
     * one user; the PLAINTEXT listeners (and `brokers`) stay as they are.
     */
    sasl?: { username: string; password: string };
    /**
     * Adds an SSL listener per broker (in `sslBrokers`) with this server certificate and key (PEM,
     * unencrypted PKCS#8) that requires a client certificate signed by `ca` (mutual TLS).
     */
    ssl?: { cert: string; key: string; ca: string };
    /** How long to wait for the brokers to answer (default 90 s; `npm run infra -- up --kafka-timeout`). */
    readyTimeoutMs?: number;
    /** Called as each broker process starts, before it answers: a caller can stop it if the wait fails. */
    onProcess?: (started: StartedProcess) => void;
  } = {},
): Promise<KafkaCluster> {
  const count = options.brokers ?? 1;
  const sasl = options.sasl;
  const ssl = options.ssl;
  if (sasl && !/^[\w.-]+$/.test(sasl.username + sasl.password)) {
    throw new Error('SASL test user and password: letters, digits, "_", "." and "-" only');
  }
  const libs = await ensureKafkaJars();
  const dataDir = ensureDir(join(runDir, `kafka-${Date.now()}-${randomBytes(3).toString('hex')}`));
  const ports = await freePorts(count * (2 + (sasl ? 1 : 0) + (ssl ? 1 : 0)));
  const sslPort = (i: number) => ports[(sasl ? 3 : 2) * count + i]!;
  if (ssl) {
    // Kafka's PEM key store is one file: the private key, then the certificate.
    writeFileSync(
      join(dataDir, 'server-keystore.pem'),
      `${readFileSync(ssl.key, 'utf8').trim()}\n${readFileSync(ssl.cert, 'utf8').trim()}\n`,
    );
  }
  // base64url may start with '-', which StorageTool would read as an option.
  const clusterId = `K${randomBytes(16).toString('base64url').slice(1)}`;
  const voters = Array.from({ length: count }, (_, i) => `${i + 1}@127.0.0.1:${ports[count + i]}`).join(',');
  const replication = Math.min(3, count);
  const classpath = join(libs, '*');
  writeFileSync(join(dataDir, 'log4j2.properties'), log4jConfig);

  const configs = Array.from({ length: count }, (_, i) => {
    const port = ports[i]!;
    const controllerPort = ports[count + i]!;
    const saslListener =
      (sasl ? `,SASL_PLAINTEXT://127.0.0.1:${ports[2 * count + i]}` : '') +
      (ssl ? `,SSL://127.0.0.1:${sslPort(i)}` : '');
    const file = join(dataDir, `server-${i + 1}.properties`);
    writeFileSync(
      file,
      [
        'process.roles=broker,controller',
        `node.id=${i + 1}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://127.0.0.1:${port}${saslListener},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${saslListener}`,
        'controller.listener.names=CONTROLLER',
        `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${sasl ? ',SASL_PLAINTEXT:SASL_PLAINTEXT' : ''}${ssl ? ',SSL:SSL' : ''}`,
        ...(ssl
          ? [
              'ssl.keystore.type=PEM',
              `ssl.keystore.location=${join(dataDir, 'server-keystore.pem')}`,
              'ssl.truststore.type=PEM',
              `ssl.truststore.location=${ssl.ca}`,
              'ssl.client.auth=required',
            ]
          : []),
        ...(sasl
          ? [
              'sasl.enabled.mechanisms=PLAIN',
              `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${sasl.username}="${sasl.password}";`,
            ]
          : []),
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${join(dataDir, `data-${i + 1}`)}`,
        'num.partitions=1',
        `default.replication.factor=${replication}`,
        `offsets.topic.replication.factor=${replication}`,
        'offsets.topic.num.partitions=12',
        `transaction.state.log.replication.factor=${replication}`,
        `transaction.state.log.min.isr=${Math.min(2, replication)}`,
        `min.insync.replicas=1`,
        // Tests create and delete groups quickly; waiting for more members only slows them.
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=true',
        'log.flush.interval.messages=9223372036854775807',
        'share.coordinator.state.topic.replication.factor=1',
        `share.coordinator.state.topic.min.isr=1`,
      ].join('\n'),
    );
    return { file, port, controllerPort, nodeId: i + 1 };
  });

  const javaArgs = (extra: string[]) => [
    '-Xms256m',
    '-Xmx768m',
    '-XX:+UseG1GC',
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${join(dataDir, 'log4j2.properties')}`,
    '-cp',
    classpath,
    ...extra,
  ];
  for (const config of configs) {
    await run('java', javaArgs(['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config.file]));
  }
  const launch = (config: (typeof configs)[number]) => {
    const service = startProcess(`kafka-${config.nodeId}`, 'java', javaArgs(['kafka.Kafka', config.file]), {
      logFile: join(dataDir, `kafka-${config.nodeId}.log`),
      detached: options.detached ?? false,
    });
    if (service.child.pid !== undefined)
      options.onProcess?.({ name: service.name, pid: service.child.pid, dataDir });
    return service;
  };
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const nodes: KafkaBroker[] = configs.map((config) => ({
    nodeId: config.nodeId,
    port: config.port,
    controllerPort: config.controllerPort,
    process: launch(config),
  }));
  const brokers = nodes.map((n) => `127.0.0.1:${n.port}`);
  await waitForCluster(brokers, nodes, readyTimeoutMs);

  return {
    brokers,
    saslBrokers: sasl ? nodes.map((_, i) => `127.0.0.1:${ports[2 * count + i]}`) : [],
    sslBrokers: ssl ? nodes.map((_, i) => `127.0.0.1:${sslPort(i)}`) : [],
    nodes,
    dataDir,
    async restartBroker(index, restartOptions = {}) {
      const node = nodes[index];
      const config = configs[index];
      if (!node || !config) throw new Error(`no broker at index ${index}; the cluster has ${nodes.length}`);
      if (restartOptions.kill) await node.process.kill();
      else await node.process.stop(30_000);
      await new Promise((r) => setTimeout(r, restartOptions.downMs ?? 0));
      node.process = launch(config);
      await waitForCluster(brokers, nodes, readyTimeoutMs);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.process.stop(15_000)));
      if (!options.keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function waitForCluster(brokers: string[], nodes: KafkaBroker[], timeoutMs: number): Promise<void> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  try {
    await withProgress(
      `Waiting for Kafka on ${brokers.join(',')} (at most ${Math.round(timeoutMs / 1000)} s)`,
      () =>
        waitUntil(
          `Kafka brokers ${brokers.join(',')}`,
          async () => {
            for (const node of nodes) {
              if (node.process.child.exitCode !== null) {
                throw new Error(`Kafka broker ${node.nodeId} exited; see ${node.process.logFile}`);
              }
            }
            await admin.connect();
            const cluster = await admin.describeCluster();
            return cluster.brokers.length === nodes.length && cluster.controller !== null;
          },
          { timeoutMs, intervalMs: 500, service: nodes[0]?.process },
        ),
      '10-40s',
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
