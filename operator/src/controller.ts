// Wires the operator together: informers on Pipelines and the Deployments it owns, a rate-limited
// work queue, workers that reconcile only while this replica holds the Lease, and the HTTP server
// for /metrics and /healthz.
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { kafkaSecurityConfig } from '../../processor/src/kafka/client.ts';
import { logLevelFrom, refusedLogLevelMessage } from '../../processor/src/observability/log-level.ts';
import type { OperatorConfig } from './config.ts';
import { EventRecorder } from './events.ts';
import { KafkaAdmins, RedisClients } from './inputs.ts';
import { KubeClient, paths } from './kube/client.ts';
import { Informer, keyOf, sleep } from './kube/informer.ts';
import { LeaderElector } from './kube/leader.ts';
import { createMetrics, type OperatorMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import { type DeploymentObject, Reconciler } from './reconcile.ts';
import { MANAGED_BY, PIPELINE_LABEL, type PipelineObject } from './resources.ts';

export interface Operator {
  port: number;
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** The parts of a Pipeline whose change calls for a reconcile (status writes do not: no loops). */
function significant(p: PipelineObject): string {
  const m = p.metadata;
  return JSON.stringify([
    m.generation,
    m.deletionTimestamp ?? null,
    m.finalizers ?? [],
    m.annotations ?? {},
    m.labels ?? {},
  ]);
}

export async function startOperator(config: OperatorConfig): Promise<Operator> {
  const logLevel = logLevelFrom(process.env.LOG_LEVEL);
  const logger = pino({ level: logLevel.level, base: { component: 'operator', id: config.identity } });
  if (logLevel.refused !== undefined) logger.warn(refusedLogLevelMessage(logLevel.refused));
  const log = (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) =>
    logger[level](extra ?? {}, msg);
  // A broken settings file stops the operator here rather than degrading every Pipeline later.
  if (config.kafkaConfigFile) kafkaSecurityConfig(config.kafkaConfigFile);
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  const client = new KubeClient(kc);
  const metrics = createMetrics();
  client.onResponse = (verb, code) => metrics.apiRequests.inc({ verb, code: String(code) });
  const kafka = new KafkaAdmins(config.kafkaConfigFile ? { configFile: config.kafkaConfigFile } : {});
  const redis = new RedisClients(config.redisPassword ? { password: config.redisPassword } : {});
  const events = new EventRecorder(client, config.identity, (msg, extra) => log('warn', msg, extra));
  // The current leadership term's queue; keys seen while not leading are picked up by the full
  // enqueue at the start of the next term.
  let queue: WorkQueue | undefined;
  const enqueue = (key: string) => queue?.add(key);
  const seen = new Map<string, string>();

  const { pipelineInformers, deploymentInformers, getPipeline, getDeployment, listDeployments } =
    watchResources(client, config, metrics, log, seen, enqueue);

  let reconciler: Reconciler | undefined;
  let term: { queue: WorkQueue; workers: Promise<void>[] } | undefined;

  const startTerm = () => {
    const q = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 60_000, qps: 10, burst: 100 });
    queue = q;
    reconciler = new Reconciler({
      client,
      config,
      events,
      metrics,
      kafka,
      redis,
      getPipeline,
      getDeployment,
      listDeployments,
      log,
    });
    const r = reconciler;
    const workers = Array.from({ length: config.workers }, () =>
      work(q, r, { metrics, events, log, getPipeline }),
    );
    term = { queue: q, workers };
    void (async () => {
      await Promise.all([...pipelineInformers, ...deploymentInformers].map((i) => i.waitForSync()));
      for (const inf of pipelineInformers) for (const p of inf.list()) q.add(keyOf(p));
    })();
  };
  const stopTerm = async () => {
    const t = term;
    term = undefined;
    queue = undefined;
    if (!t) return;
    t.queue.shutdown();
    await Promise.all(t.workers);
  };

  for (const inf of [...pipelineInformers, ...deploymentInformers]) inf.start();

  const abort = new AbortController();
  const { elector, election } = elect(config, client, metrics, log, { startTerm, stopTerm }, abort.signal);

  const informers = [...pipelineInformers, ...deploymentInformers];
  const server = probeServer(informers, metrics, () => (elector ? elector.isLeader() : true));
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log('info', 'operator started', {
    port,
    namespaces: config.namespaces.length ? config.namespaces : 'all',
    leaderElect: config.leaderElect,
  });

  return {
    port,
    isLeader: () => (elector ? elector.isLeader() : true),
    async stop() {
      abort.abort();
      await stopTerm();
      await election?.catch(() => {});
      await elector?.release();
      await Promise.all([...pipelineInformers, ...deploymentInformers].map((i) => i.stop()));
      await Promise.race([Promise.all([kafka.close(), redis.close()]), sleep(3000)]);
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    },
  };
}

type Log = (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;

/**
 * Informers on the Pipelines (a reconcile when something significant changed) and on the
 * Deployments the operator owns (a reconcile of their Pipeline), in every watched namespace.
 */
function watchResources(
  client: KubeClient,
  config: OperatorConfig,
  metrics: OperatorMetrics,
  log: Log,
  seen: Map<string, string>,
  enqueue: (key: string) => void,
) {
  const namespaces = config.namespaces.length > 0 ? config.namespaces : [undefined];
  const pipelineInformers = namespaces.map(
    (ns) =>
      new Informer<PipelineObject>({
        client,
        path: paths.pipelines(ns),
        resyncMs: config.resyncMs,
        onEvent: (type, p) => {
          const key = keyOf(p);
          if (type === 'delete') {
            seen.delete(key);
            enqueue(key);
            return;
          }
          const sig = significant(p);
          if (type === 'update' && seen.get(key) === sig) return;
          seen.set(key, sig);
          enqueue(key);
        },
        onError: (e, phase) => log('warn', `pipelines ${phase} failed`, { error: (e as Error).message }),
        onRelist: (reason) => metrics.relists.inc({ resource: 'pipelines', reason }),
      }),
  );
  const deploymentInformers = namespaces.map(
    (ns) =>
      new Informer<DeploymentObject>({
        client,
        path: paths.deployments(ns),
        labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
        resyncMs: 0,
        onEvent: (_type, d) => {
          const pipeline = d.metadata.labels?.[PIPELINE_LABEL];
          if (pipeline) enqueue(`${d.metadata.namespace}/${pipeline}`);
        },
        onError: (e, phase) => log('warn', `deployments ${phase} failed`, { error: (e as Error).message }),
        onRelist: (reason) => metrics.relists.inc({ resource: 'deployments', reason }),
      }),
  );
  const getPipeline = (key: string) => {
    for (const inf of pipelineInformers) {
      const p = inf.get(key);
      if (p) return p;
    }
    return undefined;
  };
  const getDeployment = (ns: string, name: string) => {
    for (const inf of deploymentInformers) {
      const d = inf.get(`${ns}/${name}`);
      if (d) return d;
    }
    return undefined;
  };

  const listDeployments = (ns: string, pipeline: string) =>
    deploymentInformers
      .flatMap((inf) => inf.list())
      .filter((d) => d.metadata.namespace === ns && d.metadata.labels?.[PIPELINE_LABEL] === pipeline);

  return { pipelineInformers, deploymentInformers, getPipeline, getDeployment, listDeployments };
}

/** One worker of a leadership term: reconciles keys until the queue shuts down, retrying failures with backoff. */
async function work(
  q: WorkQueue,
  r: Reconciler,
  deps: {
    metrics: OperatorMetrics;
    events: EventRecorder;
    log: Log;
    getPipeline: (key: string) => PipelineObject | undefined;
  },
): Promise<void> {
  const { metrics, events, log, getPipeline } = deps;
  for (;;) {
    const key = await q.get();
    if (key === undefined) return;
    const timer = metrics.reconcileSeconds.startTimer();
    try {
      const result = await r.reconcile(key);
      q.forget(key);
      metrics.reconciles.inc({ result: 'ok' });
      if (result.requeueAfterMs) q.addAfter(key, result.requeueAfterMs);
    } catch (e) {
      const delay = q.addRateLimited(key);
      metrics.reconciles.inc({ result: 'error' });
      metrics.retries.inc();
      log('warn', 'reconcile failed', { key, error: (e as Error).message, retryInMs: delay });
      const p = getPipeline(key);
      if (p && q.limiter.retries(key) >= 3) {
        await events.record(p, 'Warning', 'ReconcileError', (e as Error).message).catch(() => {});
      }
    } finally {
      timer();
      q.done(key);
      metrics.queueDepth.set(q.length);
    }
  }
}

/** /healthz, /livez, /readyz (informers synced) and /metrics. */
function probeServer(
  informers: { hasSynced(): boolean }[],
  metrics: OperatorMetrics,
  isLeader: () => boolean,
): Server {
  return createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz' || url === '/livez') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, leader: isLeader() }));
    } else if (url === '/readyz') {
      const synced = informers.every((i) => i.hasSynced());
      res.writeHead(synced ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ synced, leader: isLeader() }));
    } else if (url === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
    } else {
      res.writeHead(404);
      res.end();
    }
  });
}

/**
 * Runs `term.startTerm` while this replica holds the Lease (at once without leader election) and
 * `term.stopTerm` when it loses it.
 */
function elect(
  config: OperatorConfig,
  client: KubeClient,
  metrics: OperatorMetrics,
  log: Log,
  term: { startTerm(): void; stopTerm(): Promise<void> },
  signal: AbortSignal,
): { elector?: LeaderElector; election?: Promise<void> } {
  if (!config.leaderElect) {
    metrics.leader.set(1);
    term.startTerm();
    return {};
  }
  const elector = new LeaderElector({
    client,
    namespace: config.leaseNamespace,
    name: config.leaseName,
    identity: config.identity,
    leaseDurationMs: config.leaseDurationMs,
    renewDeadlineMs: config.renewDeadlineMs,
    retryPeriodMs: config.retryPeriodMs,
    onStartedLeading: () => {
      metrics.leader.set(1);
      term.startTerm();
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      void term.stopTerm();
    },
    log: (msg, extra) => log('info', msg, extra),
  });
  return { elector, election: elector.run(signal) };
}
