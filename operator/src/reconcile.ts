// The level-triggered reconcile of one Pipeline: read the Pipeline and what exists, compute what
// should exist, apply it (server-side apply: idempotent), scale, and write status. Safe to run any
// number of times; every pass starts from the current state, never from the event that caused it.
// The steps live in reconcile/; this file only orders them.
import { specIssues, validatePipelineObject } from '../../processor/src/spec/validate.ts';
import { RateTracker } from './inputs.ts';
import { isConflict, isNotFound, type KubeError, paths } from './kube/client.ts';
import type { DeploymentObject, ReconcileContext, ReconcileResult } from './reconcile/context.ts';
import { ensureFinalizer, finalize } from './reconcile/finalizer.ts';
import { measure } from './reconcile/measure.ts';
import { type ScaleMemory, scaleStep } from './reconcile/scale.ts';
import {
  buildStatus,
  degradedCondition,
  invalidSpecConditions,
  progressingCondition,
  readyCondition,
  reprocessingCondition,
  rolloutOf,
} from './reconcile/status.ts';
import { decideVersionStep } from './reconcile/version.ts';
import { writeStatus } from './reconcile/write-status.ts';
import {
  childName,
  desiredConfigMap,
  desiredDeployment,
  desiredService,
  FIELD_MANAGER,
  type PipelineObject,
  type ProcessorSettings,
  selectorString,
} from './resources.ts';
import { emptyState } from './scaler/index.ts';

export type { DeploymentObject, ReconcileContext, ReconcileResult } from './reconcile/context.ts';

/** What the reconciler remembers about one pipeline between passes (lost with leadership, on purpose). */
interface PipelineMemory extends ScaleMemory {
  uid: string;
  version: number;
  rates: RateTracker;
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

  /** finalizer → validate → decide version → measure → scale → apply → status. */
  private async reconcileOnce(key: string): Promise<ReconcileResult> {
    const p = this.ctx.getPipeline(key);
    if (!p) {
      this.memory.delete(key);
      return {};
    }
    if (p.metadata.deletionTimestamp) return await this.finalize(key, p);
    if (await ensureFinalizer(this.ctx, p)) return {}; // the update comes back through the watch

    const validation = validatePipelineObject(p);
    if (!validation.ok) {
      const message = specIssues(validation)
        .map((i) => `${i.path}: ${i.message}`)
        .join('\n');
      await this.ctx.events.record(p, 'Warning', 'InvalidSpec', message);
      await writeStatus(this.ctx, p, {}, invalidSpecConditions(message));
      return {};
    }
    const n = validation.normalized;
    const ns = p.metadata.namespace ?? 'default';
    const existing = this.ctx.getDeployment(ns, childName(p.metadata.name)) ?? null;
    const version = await decideVersionStep(this.ctx, p, n.logicFingerprint, existing);
    const mem = this.memoryFor(key, p, version);
    const m = await measure(this.ctx, p, n, version, mem.rates);
    const current = existing ? (existing.spec?.replicas ?? n.scaling.minReplicas) : null;
    const plan = await scaleStep(this.ctx, p, n, current, m, mem);
    const dep = await this.apply(p, plan.replicas, version, n.logicFingerprint);
    const rollout = rolloutOf(dep, plan.replicas);
    this.recordMetrics(p, plan.replicas, plan.hot.length, m);
    await writeStatus(
      this.ctx,
      p,
      buildStatus({
        running: rollout.running,
        selector: selectorString(p.metadata.name),
        version,
        m,
        hot: plan.hot,
      }),
      [
        readyCondition(rollout, plan.replicas, version),
        progressingCondition(rollout, plan.replicas),
        degradedCondition(m.error),
        plan.condition,
        reprocessingCondition(m.activeVersion, version),
      ],
    );
    const interval = this.ctx.config.scaleIntervalMs;
    return { requeueAfterMs: rollout.ready ? interval : Math.min(2000, interval) };
  }

  private memoryFor(key: string, p: PipelineObject, version: number): PipelineMemory {
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
    return mem;
  }

  /** The "apply" step: what should exist, with server-side apply (unchanged input changes nothing). */
  private async apply(
    p: PipelineObject,
    replicas: number,
    version: number,
    fingerprint: string,
  ): Promise<DeploymentObject> {
    const ns = p.metadata.namespace ?? 'default';
    const name = childName(p.metadata.name);
    const settings = this.settings();
    await this.ctx.client.apply(paths.configMap(ns, name), desiredConfigMap(p), FIELD_MANAGER);
    const dep = await this.ctx.client.apply<DeploymentObject>(
      paths.deployment(ns, name),
      desiredDeployment(p, replicas, version, fingerprint, settings),
      FIELD_MANAGER,
    );
    await this.ctx.client.apply(paths.service(ns, name), desiredService(p), FIELD_MANAGER);
    return dep;
  }

  private recordMetrics(
    p: PipelineObject,
    replicas: number,
    hot: number,
    m: { lag?: { totalLag: number }; rate: { total?: number } },
  ) {
    const labels = { namespace: p.metadata.namespace ?? 'default', pipeline: p.metadata.name };
    this.ctx.metrics.desiredReplicas.set(labels, replicas);
    if (m.lag) this.ctx.metrics.lag.set(labels, m.lag.totalLag);
    if (m.rate.total !== undefined) this.ctx.metrics.inputRate.set(labels, m.rate.total);
    this.ctx.metrics.hotPartitions.set(labels, hot);
  }

  private async finalize(key: string, p: PipelineObject): Promise<ReconcileResult> {
    const result = await finalize(this.ctx, p);
    if (result.requeueAfterMs === undefined) this.memory.delete(key);
    return result;
  }
}
