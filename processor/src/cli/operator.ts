// `kappaflow operator`: runs the Kubernetes operator (operator/src), which turns Pipeline custom
// resources into scaled processor Deployments.
import { Command, Option } from 'commander';
import type { DeletionPolicy } from '../../../operator/src/cleanup.ts';
import { defaultIdentity, type OperatorConfig } from '../../../operator/src/config.ts';
import { onStopSignal } from './signals.ts';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function json(what: string, v: string | undefined): Record<string, unknown> | undefined {
  if (!v) return undefined;
  try {
    return JSON.parse(v) as Record<string, unknown>;
  } catch {
    throw new Error(`${what} must be JSON, got ${v}`);
  }
}

export function operatorCommand(): Command {
  return new Command('operator')
    .description('run the Kubernetes operator: Pipeline resources become scaled processor Deployments')
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig (default: in-cluster or ~/.kube/config)').env(
        'KUBECONFIG',
      ),
    )
    .addOption(
      new Option('--namespaces <list>', 'namespaces to watch, comma-separated (default: all)')
        .env('WATCH_NAMESPACES')
        .default(''),
    )
    .addOption(
      new Option('--brokers <list>', 'default Kafka brokers for pipelines')
        .env('KAFKA_BROKERS')
        .default('127.0.0.1:9092'),
    )
    .addOption(
      new Option(
        '--kafka-config <file>',
        "YAML with Kafka TLS/SASL settings for the operator's own admin client (see docs)",
      ).env('KAFKA_CONFIG_FILE'),
    )
    .addOption(
      new Option('--redis <url>', 'default Redis URL for pipelines')
        .env('REDIS_URL')
        .default('redis://127.0.0.1:6379'),
    )
    .addOption(
      new Option('--image <image>', 'processor container image')
        .env('PROCESSOR_IMAGE')
        .default('ghcr.io/kappaflow/kappaflow:0.1.0'),
    )
    .addOption(
      new Option('--image-pull-policy <policy>', 'processor imagePullPolicy').env(
        'PROCESSOR_IMAGE_PULL_POLICY',
      ),
    )
    .addOption(
      new Option(
        '--image-pull-secrets <list>',
        'Secrets for pulling the processor image, comma-separated',
      ).env('PROCESSOR_IMAGE_PULL_SECRETS'),
    )
    .addOption(
      new Option(
        '--kafka-config-secret <name>',
        'Secret with the Kafka client settings file, mounted in processor pods at /etc/kappaflow/kafka',
      ).env('KAFKA_CONFIG_SECRET'),
    )
    .addOption(
      new Option('--kafka-config-secret-key <key>', 'key of the settings file in that Secret')
        .env('KAFKA_CONFIG_SECRET_KEY')
        .default('kafka.yaml'),
    )
    .addOption(
      new Option(
        '--redis-password-secret <name>',
        "Secret with the Redis password, REDIS_PASSWORD of processor pods (a Pipeline's spec.redis.secretRef wins)",
      ).env('REDIS_PASSWORD_SECRET'),
    )
    .addOption(
      new Option('--redis-password-secret-key <key>', 'key of the password in that Secret')
        .env('REDIS_PASSWORD_SECRET_KEY')
        .default('redis-password'),
    )
    .addOption(
      new Option(
        '--redis-sentinel-password-secret-key <key>',
        "key, in the Redis password Secret, of the Sentinels' own password: REDIS_SENTINEL_PASSWORD of processor pods (unset: the Sentinels get the Redis password)",
      ).env('REDIS_SENTINEL_PASSWORD_SECRET_KEY'),
    )
    .addOption(
      new Option(
        '--redis-tls-secret <name>',
        'Secret with ca.crt (and tls.crt, tls.key for mutual TLS) for rediss://, mounted in processor pods at /etc/kappaflow/redis-tls (REDIS_TLS_DIR)',
      ).env('REDIS_TLS_SECRET'),
    )
    .addOption(
      new Option(
        '--query-auth-secret <name>',
        'Secret with the query API bearer tokens, mounted in processor pods at /etc/kappaflow/query-auth',
      ).env('QUERY_AUTH_SECRET'),
    )
    .addOption(
      new Option('--query-auth-secret-key <key>', 'key of the tokens file in that Secret')
        .env('QUERY_AUTH_SECRET_KEY')
        .default('tokens'),
    )
    .addOption(
      new Option('--processor-resources <json>', 'processor container resources (JSON)').env(
        'PROCESSOR_RESOURCES',
      ),
    )
    .addOption(
      new Option('--processor-env <json>', 'extra processor env as a JSON object').env('PROCESSOR_ENV'),
    )
    .addOption(
      new Option('--processor-service-account <name>', 'service account of processor pods').env(
        'PROCESSOR_SERVICE_ACCOUNT',
      ),
    )
    .addOption(
      new Option(
        '--processor-host-network <bool>',
        "run processor pods in the node's network namespace (hostNetwork)",
      ).env('PROCESSOR_HOST_NETWORK'),
    )
    .addOption(
      new Option('--processor-port <port>', 'HTTP port of processor pods (query API, probes, /metrics)').env(
        'PROCESSOR_PORT',
      ),
    )
    .addOption(
      new Option('--leader-elect <bool>', 'Lease-based leader election').env('LEADER_ELECT').default('true'),
    )
    .addOption(
      new Option('--lease-name <name>', 'name of the Lease').env('LEASE_NAME').default('kappaflow-operator'),
    )
    .addOption(
      new Option('--lease-namespace <ns>', 'namespace of the Lease').env('POD_NAMESPACE').default('default'),
    )
    .addOption(new Option('--identity <id>', 'this replica in the Lease').env('POD_NAME'))
    .addOption(
      new Option('--lease-duration <seconds>', 'Lease duration').env('LEASE_DURATION_SECONDS').default('15'),
    )
    .addOption(
      new Option('--renew-deadline <seconds>', 'give up leading after failing to renew this long')
        .env('RENEW_DEADLINE_SECONDS')
        .default('10'),
    )
    .addOption(
      new Option('--retry-period <seconds>', 'Lease renew/acquire period')
        .env('RETRY_PERIOD_SECONDS')
        .default('2'),
    )
    .addOption(new Option('--port <port>', '/metrics, /healthz and /readyz port').env('PORT').default('8081'))
    .addOption(new Option('--host <host>', 'listen address').env('HOST').default('0.0.0.0'))
    .addOption(
      new Option('--resync <seconds>', 'reconcile every Pipeline at least this often')
        .env('RESYNC_SECONDS')
        .default('60'),
    )
    .addOption(
      new Option('--scale-interval <seconds>', 'how often the autoscaler looks at each pipeline')
        .env('SCALE_INTERVAL_SECONDS')
        .default('10'),
    )
    .addOption(
      new Option(
        '--deletion-policy <policy>',
        'default for Pipelines without a kappaflow.io/deletion-policy annotation',
      )
        .choices(['retain', 'delete'])
        .env('DELETION_POLICY')
        .default('retain'),
    )
    .addOption(new Option('--workers <n>', 'concurrent reconciles').env('WORKERS').default('2'))
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow operator --kubeconfig ~/.kube/config --brokers kafka:9092 --redis redis://redis:6379
  $ kappaflow operator --namespaces team-a,team-b --leader-elect false

The operator's own Redis connections (heartbeats, cleanup) use REDIS_PASSWORD unless a Pipeline sets
spec.redis.secretRef; its Kafka admin client uses --kafka-config.

Stops on SIGTERM/SIGINT (the Lease is released so a standby takes over at once).`,
    )
    .action(async (o: Record<string, string | undefined>) => {
      const config = operatorConfigFrom(o);
      const { startOperator } = await import('../../../operator/src/controller.ts');
      const operator = await startOperator(config);
      let signals = 0;
      await new Promise<void>((resolve) =>
        onStopSignal(() => {
          // a second signal while the Lease is being released: exit at once, as `run` does
          if (++signals > 1) process.exit(1);
          resolve();
        }),
      );
      await operator.stop();
      process.exitCode = 0;
    });
}

/** The operator's settings from the parsed flags (and their environment variables). */
export function operatorConfigFrom(o: Record<string, string | undefined>): OperatorConfig {
  const num = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));
  const secret = (name: string | undefined, key: string | undefined, defaultKey: string) =>
    name ? { name, key: key || defaultKey } : undefined;
  const kafkaConfigSecret = secret(o.kafkaConfigSecret, o.kafkaConfigSecretKey, 'kafka.yaml');
  const redisPasswordSecret = secret(o.redisPasswordSecret, o.redisPasswordSecretKey, 'redis-password');
  if (o.redisSentinelPasswordSecretKey && !redisPasswordSecret) {
    throw new Error(
      '--redis-sentinel-password-secret-key / REDIS_SENTINEL_PASSWORD_SECRET_KEY names a key of the Redis password Secret: set --redis-password-secret / REDIS_PASSWORD_SECRET too',
    );
  }
  const redisSentinelPasswordSecret =
    redisPasswordSecret && o.redisSentinelPasswordSecretKey
      ? { name: redisPasswordSecret.name, key: o.redisSentinelPasswordSecretKey }
      : undefined;
  const queryAuthSecret = secret(o.queryAuthSecret, o.queryAuthSecretKey, 'tokens');
  const imagePullSecrets = list(o.imagePullSecrets ?? '');
  const processorPort = num(o.processorPort, 8080);
  if (!Number.isInteger(processorPort) || processorPort < 1 || processorPort > 65535) {
    throw new Error(
      `--processor-port / PROCESSOR_PORT must be a port number (1-65535), got ${o.processorPort}`,
    );
  }
  return {
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig.split(':')[0] } : {}),
    namespaces: list(o.namespaces ?? ''),
    kafkaBrokers: o.brokers ?? '127.0.0.1:9092',
    ...(o.kafkaConfig ? { kafkaConfigFile: o.kafkaConfig } : {}),
    redisUrl: o.redis ?? 'redis://127.0.0.1:6379',
    ...(process.env.REDIS_PASSWORD ? { redisPassword: process.env.REDIS_PASSWORD } : {}),
    image: o.image ?? 'ghcr.io/kappaflow/kappaflow:0.1.0',
    ...(o.imagePullPolicy ? { imagePullPolicy: o.imagePullPolicy } : {}),
    ...(imagePullSecrets.length ? { imagePullSecrets } : {}),
    ...(kafkaConfigSecret ? { kafkaConfigSecret } : {}),
    ...(redisPasswordSecret ? { redisPasswordSecret } : {}),
    ...(redisSentinelPasswordSecret ? { redisSentinelPasswordSecret } : {}),
    ...(o.redisTlsSecret ? { redisTlsSecret: o.redisTlsSecret } : {}),
    ...(queryAuthSecret ? { queryAuthSecret } : {}),
    ...(o.processorResources
      ? { processorResources: json('--processor-resources', o.processorResources) }
      : {}),
    ...(o.processorEnv
      ? { processorEnv: json('--processor-env', o.processorEnv) as Record<string, string> }
      : {}),
    ...(o.processorServiceAccount ? { processorServiceAccount: o.processorServiceAccount } : {}),
    ...(['true', '1', 'yes', 'on'].includes(String(o.processorHostNetwork).toLowerCase())
      ? { processorHostNetwork: true }
      : {}),
    ...(o.processorPort ? { processorPort } : {}),
    leaderElect: !['false', '0', 'no', 'off'].includes(String(o.leaderElect).toLowerCase()),
    leaseName: o.leaseName ?? 'kappaflow-operator',
    leaseNamespace: o.leaseNamespace ?? 'default',
    identity: o.identity ?? defaultIdentity(),
    leaseDurationMs: num(o.leaseDuration, 15) * 1000,
    renewDeadlineMs: num(o.renewDeadline, 10) * 1000,
    retryPeriodMs: num(o.retryPeriod, 2) * 1000,
    port: num(o.port, 8081),
    host: o.host ?? '0.0.0.0',
    resyncMs: num(o.resync, 60) * 1000,
    scaleIntervalMs: num(o.scaleInterval, 10) * 1000,
    deletionPolicy: (o.deletionPolicy ?? 'retain') as DeletionPolicy,
    workers: Math.max(1, num(o.workers, 2)),
  };
}
