// The level-triggered reconcile of one Pipeline: read the Pipeline and what exists, compute what
// should exist, apply it (server-side apply: idempotent), scale, and write status. Safe to run any
// number of times; every pass starts from the current state, never from the event that caused it.

import type { NormalizedPipeline } from '../../processor/src/spec/normalize.ts';
import type { PipelineCondition, PipelineStatus } from '../../processor/src/spec/status.ts';
import { specIssues, validatePipelineObject } from '../../processor/src/spec/validate.ts';
import { type LagReading, lagSourceOf, readLag } from '../../processor/src/state/lag.ts';
import { readRegistration } from '../../processor/src/state/registry.ts';
import type { ReplicaHeartbeat } from '../../processor/src/state/replica-status.ts';
import { deleteConsumerGroups, deleteRedisState, parsePolicy } from './cleanup.ts';
import { type ConditionInput, mergeConditions } from './conditions.ts';
import type { OperatorConfig } from './config.ts';
import type { EventRecorder } from './events.ts';
import { type KafkaAdmins, RateTracker, type RedisClients, readReplicas, withTimeout } from './inputs.ts';
import type { KubeClient, KubeObject } from './kube/client.ts';
import { isConflict, isNotFound, type KubeError, paths } from './kube/client.ts';
import type { OperatorMetrics } from './metrics.ts';
import {
  childName,
  DELETION_POLICY_ANNOTATION,
  desiredConfigMap,
  desiredDeployment,
  desiredService,
  FIELD_MANAGER,
  FINALIZER,
  FINGERPRINT_ANNOTATION,
  type PipelineObject,
  type ProcessorSettings,
  selectorString,
  VERSION_LABEL,
} from './resources.ts';
import { autoscale, emptyState, hotPartitions, type StabilizerState } from './scaler/index.ts';
import { decideVersion, REPLAY_ANNOTATION } from './versioning.ts';

export interface DeploymentObject extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
  };
}

/** What the scaler remembers about one pipeline between passes (lost with leadership, on purpose). */
interface PipelineMemory {
  uid: string;
  version: number;
  stabilizer: StabilizerState;
  rates: RateTracker;
  lastHot: string;
}

export interface ReconcileContext {
  client: KubeClient;
  config: OperatorConfig;
  events: EventRecorder;
  metrics: OperatorMetrics;
  kafka: KafkaAdmins;
  redis: RedisClients;
  getPipeline: (key: string) => PipelineObject | undefined;
  getDeployment: (namespace: string, name: string) => DeploymentObject | undefined;
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export class Reconciler {
  private readonly memory = new Map<string, PipelineMemory>();

  constructor(private readonly ctx: ReconcileContext) {}

  private settings(): ProcessorSettings {
    const c = this.ctx.config;
    return {
      image: c.image,
      ...(c.imagePullPolicy ? { imagePullPolicy: c.imagePullPolicy } : {}),
      ...(c.imagePullSecrets?.length ? { imagePullSecrets: c.imagePullSecrets } : {}),
      kafkaBrokers: c.kafkaBrokers,
      redisUrl: c.redisUrl,
      ...(c.kafkaConfigSecret ? { kafkaConfigSecret: c.kafkaConfigSecret } : {}),
      ...(c.redisPasswordSecret ? { redisPasswordSecret: c.redisPasswordSecret } : {}),
      ...(c.queryAuthSecret ? { queryAuthSecret: c.queryAuthSecret } : {}),
      ...(c.processorResources ? { resources: c.processorResources } : {}),
      ...(c.processorEnv ? { env: c.processorEnv } : {}),
      ...(c.processorServiceAccount ? { serviceAccountName: c.processorServiceAccount } : {}),
      ...(c.processorHostNetwork ? { hostNetwork: true } : {}),
      ...(c.processorPort ? { port: c.processorPort } : {}),
    };
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    try {
      return await this.reconcileOnce(key);
    } catch (e) {
      // The Pipeline went away meanwhile: nothing left to do. A write based on a stale copy lost
      // a race (409): run again soon from the fresh copy the watch brings.
      if (isNotFound(e) && (e as KubeError).path.includes('/pipelines/')) return {};
      if (isConflict(e)) return { requeueAfterMs: 250 };
      throw e;
    }
  }

  private async reconcileOnce(key: string): Promise<ReconcileResult> {
    const p = this.ctx.getPipeline(key);
    if (!p) {
      this.memory.delete(key);
      return {};
    }
    const ns = p.metadata.namespace ?? 'default';
    const name = p.metadata.name;
    if (p.metadata.deletionTimestamp) return await this.finalize(p);

    if (!(p.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.ctx.client.mergePatch(paths.pipeline(ns, name), {
        metadata: {
          finalizers: [...(p.metadata.finalizers ?? []), FINALIZER],
          resourceVersion: p.metadata.resourceVersion,
        },
      });
      return {}; // the update comes back through the watch
    }

    const validation = validatePipelineObject(p);
    if (!validation.ok) {
      const issues = specIssues(validation);
      const message = issues.map((i) => `${i.path}: ${i.message}`).join('\n');
      await this.ctx.events.record(p, 'Warning', 'InvalidSpec', message);
      await this.writeStatus(p, {}, [
        { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message },
        {
          type: 'Ready',
          status: 'False',
          reason: 'InvalidSpec',
          message: 'the spec is invalid; the processors keep running the last valid spec',
        },
      ]);
      return {};
    }
    const n = validation.normalized;
    const fingerprint = n.logicFingerprint;
    const depName = childName(name);
    const existing = this.ctx.getDeployment(ns, depName) ?? null;

    // Version: a change of logic (what the aggregates contain), or a replay request, starts a new
    // version from the log (versioning.ts); queries keep reading the old one until it catches up.
    const replay = p.metadata.annotations?.[REPLAY_ANNOTATION];
    const decision = decideVersion(
      existing
        ? {
            version: Number(existing.metadata.labels?.[VERSION_LABEL] ?? 1),
            ...(existing.metadata.annotations?.[FINGERPRINT_ANNOTATION]
              ? { fingerprint: existing.metadata.annotations[FINGERPRINT_ANNOTATION] }
              : {}),
            ...(existing.metadata.annotations?.[REPLAY_ANNOTATION]
              ? { replay: existing.metadata.annotations[REPLAY_ANNOTATION] }
              : {}),
          }
        : null,
      { fingerprint, ...(replay ? { replay } : {}) },
      (p.status as PipelineStatus | undefined)?.latestVersion,
    );
    const version = decision.version;
    if (decision.reason) {
      await this.ctx.events.record(
        p,
        'Normal',
        'NewVersion',
        decision.reason === 'logic'
          ? `the pipeline's logic changed: version ${version} reprocesses the log into its own keys`
          : `replay requested (${REPLAY_ANNOTATION}=${replay}): version ${version} reprocesses the log into its own keys`,
      );
    }

    let mem = this.memory.get(key);
    if (!mem || mem.uid !== p.metadata.uid || mem.version !== version) {
      mem = {
        uid: p.metadata.uid ?? '',
        version,
        stabilizer: emptyState(Date.now()),
        rates: new RateTracker(),
        lastHot: '',
      };
      this.memory.set(key, mem);
    }

    // Measure: lag from Kafka, replicas' throughput from Redis. Failure leaves replicas as they are.
    const brokers = n.kafka?.brokers?.join(',') ?? this.ctx.config.kafkaBrokers;
    let lag: LagReading | undefined;
    let beats: ReplicaHeartbeat[] = [];
    let measureError: string | undefined;
    try {
      const admin = await withTimeout(this.ctx.kafka.admin(brokers), 10_000, 'connecting to Kafka');
      // The same reading as the query API's lag: Kafka end offsets minus the Redis checkpoints.
      const source = lagSourceOf({
        name,
        version,
        topics: n.source.topics,
        startFrom: n.source.startFrom,
        session: n.window.type === 'session',
      });
      lag = await withTimeout(readLag(admin, await this.redisFor(p, n), source), 10_000, 'reading lag');
      mem.rates.add(lag);
    } catch (e) {
      measureError = `Kafka: ${(e as Error).message}`;
      await this.ctx.kafka.reset(brokers);
    }
    // Kappa reprocessing: a new version replays into its own keys while queries keep reading the
    // active one (the processors switch it when caught up; state/versions.ts).
    let activeVersion = version;
    try {
      const redis = await this.redisFor(p, n);
      beats = await readReplicas(redis, name, version);
      activeVersion = (await readRegistration(redis, name))?.activeVersion ?? version;
    } catch (e) {
      measureError = `${measureError ? `${measureError}; ` : ''}Redis: ${(e as Error).message}`;
    }
    const rate = mem.rates.rate();
    const labels = { namespace: ns, pipeline: name };

    // Replicas.
    const scaling = n.scaling;
    const current = existing?.spec?.replicas ?? scaling.minReplicas;
    let replicas = current;
    let scalingCondition: ConditionInput;
    const hot = lag
      ? hotPartitions(
          lag.partitions.map((q) => ({
            partition: q.id,
            lag: q.lag,
            ...(rate.perPartition.has(q.id) ? { recordsPerSecond: rate.perPartition.get(q.id)! } : {}),
          })),
          { minLag: scaling.lagThreshold },
        )
      : [];
    if (scaling.mode === 'external') {
      replicas = n.replicas ?? existing?.spec?.replicas ?? scaling.minReplicas;
      scalingCondition = {
        type: 'Scaling',
        status: 'False',
        reason: 'External',
        message: `scaling.mode is external: replicas follow spec.replicas (${replicas})`,
      };
      if (existing && replicas !== current) {
        await this.ctx.events.record(
          p,
          'Normal',
          'Scaled',
          `spec.replicas ${current} -> ${replicas} (external scaling)`,
        );
      }
    } else if (!lag) {
      scalingCondition = {
        type: 'Scaling',
        status: 'Unknown',
        reason: 'MetricsUnavailable',
        message: measureError ?? 'no lag reading',
      };
      await this.ctx.events.record(
        p,
        'Warning',
        'MetricsUnavailable',
        `cannot measure lag, keeping ${current} replicas: ${measureError}`,
      );
    } else {
      const now = Date.now();
      const result = autoscale(
        scaling,
        {
          lag: lag.totalLag,
          ...(rate.total === undefined ? {} : { inputRate: rate.total }),
          partitions: lag.partitions.length,
          replicaRates: beats.map((b) => b.recordsPerSecond),
          currentReplicas: current,
        },
        mem.stabilizer,
        now,
      );
      mem.stabilizer = result.decision.state;
      replicas = existing ? result.decision.replicas : result.recommendation.replicas;
      this.ctx.metrics.recommendedReplicas.set(labels, result.recommendation.replicas);
      const d = existing ? result.decision.direction : 'none';
      if (d !== 'none') {
        this.ctx.metrics.scalingEvents.inc({ ...labels, direction: d });
        await this.ctx.events.record(p, 'Normal', d === 'up' ? 'ScaledOut' : 'ScaledIn', result.message);
        this.ctx.log('info', 'scaling', { pipeline: key, from: current, to: replicas, why: result.message });
      }
      scalingCondition = {
        type: 'Scaling',
        status: d !== 'none' || result.decision.heldBack ? 'True' : 'False',
        reason:
          d === 'up'
            ? 'ScaledOut'
            : d === 'down'
              ? 'ScaledIn'
              : result.decision.heldBack
                ? 'Stabilizing'
                : 'Steady',
        message: result.message,
      };
    }
    const hotKey = hot.map((h) => h.partition).join(',');
    if (hotKey !== mem.lastHot) {
      mem.lastHot = hotKey;
      if (hot.length > 0) {
        await this.ctx.events.record(
          p,
          'Warning',
          'HotPartition',
          `partition(s) ${hotKey} carry far more ${hot[0]!.by} than the others; more replicas cannot split a partition (check the key distribution)`,
        );
      }
    }

    // Apply what should exist.
    const settings = this.settings();
    await this.ctx.client.apply(paths.configMap(ns, depName), desiredConfigMap(p), FIELD_MANAGER);
    const dep = await this.ctx.client.apply<DeploymentObject>(
      paths.deployment(ns, depName),
      desiredDeployment(p, replicas, version, fingerprint, settings),
      FIELD_MANAGER,
    );
    await this.ctx.client.apply(paths.service(ns, depName), desiredService(p), FIELD_MANAGER);

    // Status.
    const ds = dep.status ?? {};
    const rolledOut =
      (ds.observedGeneration ?? 0) >= (dep.metadata.generation ?? 0) &&
      (ds.updatedReplicas ?? 0) >= replicas &&
      (ds.replicas ?? 0) === replicas;
    const available = ds.availableReplicas ?? 0;
    const ready = rolledOut && available >= replicas;
    const watermarks = beats
      .flatMap((b) => Object.values(b.watermarks))
      .filter((w) => Number.isFinite(w) && w > 0);
    const status: PipelineStatus = {
      replicas: ds.replicas ?? 0,
      selector: selectorString(name),
      activeVersion,
      latestVersion: version,
      ...(lag ? { lag: lag.totalLag } : {}),
      ...(rate.total === undefined ? {} : { inputRate: Math.round(rate.total * 100) / 100 }),
      ...(watermarks.length > 0 ? { watermark: new Date(Math.min(...watermarks)).toISOString() } : {}),
      hotPartitions: hot.map((h) => {
        const source = lag?.partitions.find((q) => q.id === h.partition);
        return {
          ...(source ? { topic: source.topic } : {}),
          partition: source ? source.partition : Number(h.partition.split('.').pop()),
          lag: h.lag,
          ...(h.recordsPerSecond === undefined
            ? {}
            : { recordsPerSecond: Math.round(h.recordsPerSecond * 100) / 100 }),
        };
      }),
    };
    this.ctx.metrics.desiredReplicas.set(labels, replicas);
    if (lag) this.ctx.metrics.lag.set(labels, lag.totalLag);
    if (rate.total !== undefined) this.ctx.metrics.inputRate.set(labels, rate.total);
    this.ctx.metrics.hotPartitions.set(labels, hot.length);
    await this.writeStatus(p, status, [
      ready
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'ProcessorsReady',
            message: `${available}/${replicas} processors available (version ${version})`,
          }
        : {
            type: 'Ready',
            status: 'False',
            reason: 'ProcessorsNotReady',
            message: `${available}/${replicas} processors available (version ${version})`,
          },
      rolledOut
        ? {
            type: 'Progressing',
            status: 'False',
            reason: 'RolloutComplete',
            message: `all ${replicas} processors run the current spec`,
          }
        : {
            type: 'Progressing',
            status: 'True',
            reason: 'RollingOut',
            message: `${ds.updatedReplicas ?? 0} of ${replicas} processors updated, ${ds.replicas ?? 0} running`,
          },
      measureError
        ? { type: 'Degraded', status: 'True', reason: 'MetricsUnavailable', message: measureError }
        : {
            type: 'Degraded',
            status: 'False',
            reason: 'AsExpected',
            message: 'spec valid, lag and replica metrics readable',
          },
      scalingCondition,
      activeVersion < version
        ? {
            type: 'Reprocessing',
            status: 'True',
            reason: 'CatchingUp',
            message: `version ${version} replays the log into its own keys; queries read version ${activeVersion} until it catches up`,
          }
        : {
            type: 'Reprocessing',
            status: 'False',
            reason: 'UpToDate',
            message: `queries read version ${activeVersion}`,
          },
    ]);
    return {
      requeueAfterMs: ready
        ? this.ctx.config.scaleIntervalMs
        : Math.min(2000, this.ctx.config.scaleIntervalMs),
    };
  }

  private async redisFor(p: PipelineObject, n: NormalizedPipeline) {
    const r = n.redis;
    let url = this.ctx.config.redisUrl;
    if (r?.url) url = r.cluster ? r.url.replace(/^rediss?:\/\//, 'redis-cluster://') : r.url;
    let password: string | undefined;
    if (r?.secretRef) {
      const secret = await this.ctx.client.get<KubeObject & { data?: Record<string, string> }>(
        paths.secret(p.metadata.namespace ?? 'default', r.secretRef.name),
      );
      const b64 = secret.data?.[r.secretRef.passwordKey ?? 'password'];
      if (b64) password = Buffer.from(b64, 'base64').toString('utf8');
    }
    return this.ctx.redis.get(url, password);
  }

  private async writeStatus(
    p: PipelineObject,
    status: PipelineStatus,
    conditions: ConditionInput[],
  ): Promise<void> {
    const old = (p.status ?? {}) as PipelineStatus;
    const generation = p.metadata.generation ?? 0;
    const merged = mergeConditions(
      old.conditions as PipelineCondition[] | undefined,
      conditions,
      generation,
      new Date(),
    );
    const next: PipelineStatus = { ...old, ...status, observedGeneration: generation, conditions: merged };
    if (JSON.stringify(next) === JSON.stringify(old)) return;
    await this.ctx.client.mergePatch(
      `${paths.pipeline(p.metadata.namespace ?? 'default', p.metadata.name)}/status`,
      {
        status: next,
      },
    );
  }

  /** The finalizer: stop processors, run the deletion policy, then let the Pipeline go. */
  private async finalize(p: PipelineObject): Promise<ReconcileResult> {
    const ns = p.metadata.namespace ?? 'default';
    const name = p.metadata.name;
    const finalizers = p.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return {};
    const policy = parsePolicy(
      p.metadata.annotations?.[DELETION_POLICY_ANNOTATION],
      this.ctx.config.deletionPolicy,
    );
    if (policy === 'delete') {
      // Processors must be gone first, or they would write keys back and keep the group alive.
      await this.ctx.client.delete(paths.deployment(ns, childName(name)), {
        propagationPolicy: 'Foreground',
      });
      const pods = await this.ctx.client.list(paths.pods(ns), { labelSelector: selectorString(name) });
      if (pods.items.length > 0) return { requeueAfterMs: 1000 };
      const validation = validatePipelineObject(p);
      const n = validation.ok ? validation.normalized : undefined;
      const brokers = n?.kafka?.brokers?.join(',') ?? this.ctx.config.kafkaBrokers;
      let groups: string[];
      try {
        // Connecting is inside: a failed connection also drops the cached admin, as in reconcileOnce.
        const admin = await withTimeout(this.ctx.kafka.admin(brokers), 10_000, 'connecting to Kafka');
        groups = await deleteConsumerGroups(admin, name);
      } catch (e) {
        await this.ctx.kafka.reset(brokers);
        throw e;
      }
      const redis = n ? await this.redisFor(p, n) : this.ctx.redis.get(this.ctx.config.redisUrl);
      const removed = await withTimeout(deleteRedisState(redis, name), 60_000, 'deleting Redis keys');
      await this.ctx.events.record(
        p,
        'Normal',
        'Cleaned',
        `deletion policy delete: removed ${removed} Redis keys and consumer group(s) ${groups.join(', ') || '(none)'}`,
      );
    } else {
      await this.ctx.events.record(
        p,
        'Normal',
        'Retained',
        'deletion policy retain: Redis keys and consumer groups kept',
      );
    }
    this.memory.delete(`${ns}/${name}`);
    await this.ctx.client.mergePatch(paths.pipeline(ns, name), {
      metadata: {
        finalizers: finalizers.filter((f) => f !== FINALIZER),
        resourceVersion: p.metadata.resourceVersion,
      },
    });
    this.ctx.log('info', 'finalized', { pipeline: `${ns}/${name}`, policy });
    return {};
  }
}
