// The level-triggered reconcile of one Pipeline: read the Pipeline and what exists, compute what
// should exist, apply it (server-side apply: idempotent), scale, and write status. Safe to run any
// number of times; every pass starts from the current state, never from the event that caused it.
// The steps live in reconcile/; this file only orders them.
//
// Blue/green reprocessing: each version runs its own Deployment (kappaflow-<pipeline>-v<N>, its own
// ConfigMap, consumer group and keys). The active version keeps consuming live while a newer one
// replays the log; the processors switch queries over when it has caught up (the gate says when
// it may); then the older version is removed.

import { parse } from 'yaml';
import { CAUGHT_UP_LAG } from '../../processor/src/model/caught-up.ts';
import type { NormalizedPipeline } from '../../processor/src/spec/normalize.ts';
import type { PipelineStatus } from '../../processor/src/spec/status.ts';
import { specIssues, validatePipelineObject } from '../../processor/src/spec/validate.ts';
import type { RedisClient } from '../../processor/src/state/connection.ts';
import type { LagReading } from '../../processor/src/state/lag.ts';
import { type PromotionGate, writeGate } from '../../processor/src/state/versions.ts';
import type { ConditionInput } from './conditions.ts';
import { RateTracker } from './inputs.ts';
import { isConflict, isNotFound, type KubeError, type KubeObject, paths } from './kube/client.ts';
import type { DeploymentObject, ReconcileContext, ReconcileResult } from './reconcile/context.ts';
import { judgedCounts } from './reconcile/dead-letter-ratio.ts';
import { ensureFinalizer, finalize } from './reconcile/finalizer.ts';
import { kafkaFor, type PipelineKafka } from './reconcile/kafka-for.ts';
import { type Measurement, measure, readActiveVersion } from './reconcile/measure.ts';
import { planVersions, type VersionedDeployment, type VersionPlan } from './reconcile/plan-versions.ts';
import { PROMOTE_ANNOTATION, promotionGate, replayHealth, startsFailing } from './reconcile/promotion.ts';
import { redisFor } from './reconcile/redis-for.ts';
import { type RetireReason, retireStep } from './reconcile/retire.ts';
import { type ScaleMemory, type ScalingPlan, scaleStep } from './reconcile/scale.ts';
import {
  buildStatus,
  degradedCondition,
  invalidSpecConditions,
  progressingCondition,
  type Rollout,
  readyCondition,
  replayCondition,
  rolloutOf,
  versionEntry,
} from './reconcile/status.ts';
import { deployedVersion, newVersionEvent } from './reconcile/version.ts';
import { writeStatus } from './reconcile/write-status.ts';
import {
  CONFIG_FILE,
  childName,
  desiredConfigMap,
  desiredDeployment,
  desiredService,
  FIELD_MANAGER,
  type PipelineObject,
  type ProcessorSettings,
  RETIRE_ANNOTATION,
  selectorString,
  VERSION_LABEL,
  versionName,
} from './resources.ts';
import { emptyState } from './scaler/index.ts';
import { REPLAY_ANNOTATION } from './versioning.ts';

export type { DeploymentObject, ReconcileContext, ReconcileResult } from './reconcile/context.ts';

/** What the reconciler remembers about one version between passes (lost with leadership, on purpose). */
interface VersionMemory extends ScaleMemory {
  rates: RateTracker;
}

/** A kept version after this pass: measured, scaled, applied. */
interface VersionPass {
  version: number;
  m: Measurement;
  plan: ScalingPlan;
  rollout: Rollout;
  startedAt?: string;
}

/** What the steps of one pass share. */
interface Pass {
  p: PipelineObject;
  n: NormalizedPipeline;
  ns: string;
  name: string;
  redis: () => Promise<RedisClient>;
  kafka: () => Promise<PipelineKafka>;
  /** status.latestVersion: the highest version started */
  recorded: number | undefined;
  /** the Pipeline's Deployments (not being deleted) */
  deployments: DeploymentObject[];
  ofVersion: (version: number) => DeploymentObject[];
}

interface GateResult {
  gate?: PromotionGate & { failing: boolean };
  error?: string;
}

export class Reconciler {
  private readonly memory = new Map<string, { uid: string; versions: Map<number, VersionMemory> }>();

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
      ...(c.redisSentinelPasswordSecret
        ? { redisSentinelPasswordSecret: c.redisSentinelPasswordSecret }
        : {}),
      ...(c.redisTlsSecret ? { redisTlsSecret: c.redisTlsSecret } : {}),
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

  /** finalizer → validate → decide versions → remove → gate → per version: measure, scale, apply → status. */
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
    const run = this.passOf(p, validation.normalized);
    const { plan, registry } = await this.decideVersions(run);
    const removing = await this.removeVersions(run, plan);
    const mem = this.memoryFor(key, p, plan.keep);
    const gate = await this.gateStep(run, plan, registry.active, mem.get(plan.target)?.rates.last());
    const passes: VersionPass[] = [];
    for (const version of plan.keep)
      passes.push(await this.versionStep(run, plan, version, mem.get(version)!, gate));
    const settled = await this.statusStep(run, plan, registry, passes, gate);
    const interval = this.ctx.config.scaleIntervalMs;
    return { requeueAfterMs: settled && !removing ? interval : Math.min(removing ? 1000 : 2000, interval) };
  }

  /** What every step of this pass reads. */
  private passOf(p: PipelineObject, n: NormalizedPipeline): Pass {
    const ns = p.metadata.namespace ?? 'default';
    const name = p.metadata.name;
    const deployments = this.ctx.listDeployments(ns, name).filter((d) => !d.metadata.deletionTimestamp);
    return {
      p,
      n,
      ns,
      name,
      redis: () => redisFor(this.ctx, p, n),
      kafka: () => kafkaFor(this.ctx, p, n),
      recorded: (p.status as PipelineStatus | undefined)?.latestVersion,
      deployments,
      ofVersion: (v) => deployments.filter((d) => this.versioned(d, name).version === v),
    };
  }

  /** "Decide versions": which run, which runs the spec, which go (plan-versions.ts); Event for a new one. */
  private async decideVersions(run: Pass) {
    const { p, n, name } = run;
    // A version being removed is never kept again (its keys may be half deleted): a spec naming its
    // logic once more starts a new version.
    const registry = await readActiveVersion(this.ctx, p, n);
    const replay = p.metadata.annotations?.[REPLAY_ANNOTATION];
    const plan = planVersions(
      run.deployments
        .filter((d) => !d.metadata.annotations?.[RETIRE_ANNOTATION])
        .map((d) => this.versioned(d, name)),
      {
        fingerprint: n.logicFingerprint,
        earlierFingerprints: n.earlierFingerprints,
        ...(replay ? { replay } : {}),
      },
      registry.active,
      run.recorded,
    );
    if (plan.reason) {
      await this.ctx.events.record(
        p,
        'Normal',
        'NewVersion',
        newVersionEvent(plan.target, plan.reason, replay),
      );
    }
    return { plan, registry };
  }

  /** Removes versions promoted away, reverted or replaced (pods first, then keys and group); true while some remain. */
  private async removeVersions(run: Pass, plan: VersionPlan): Promise<boolean> {
    const removals = new Map<number, RetireReason>();
    for (const d of run.deployments) {
      const why = d.metadata.annotations?.[RETIRE_ANNOTATION];
      if (why) removals.set(this.versioned(d, run.name).version, why as RetireReason);
    }
    for (const a of plan.abort) removals.set(a.version, a.why);
    for (const v of plan.retire) removals.set(v, 'promoted');
    let removing = false;
    for (const [version, why] of removals) {
      const done = await retireStep(
        this.ctx,
        run.p,
        version,
        why,
        run.ofVersion(version),
        run.redis,
        run.kafka,
      );
      if (!done) removing = true;
    }
    return removing;
  }

  /** The promotion gate of a replay (manual policy, crash loop, legacy Deployment), written before its processors start. */
  private async gateStep(
    run: Pass,
    plan: VersionPlan,
    registryActive: number | null,
    lastReading: LagReading | undefined,
  ): Promise<GateResult> {
    const { p, name } = run;
    if (plan.target <= plan.active) {
      // No replay: nothing may take over (a version being aborted and still stopping included).
      if (registryActive === null) return {};
      const hold = { version: plan.active, allow: false, reason: 'no replay is running' };
      return await writeGate(await run.redis(), name, hold).then(
        () => ({}),
        (e: Error) => ({ error: `Redis: ${e.message}` }),
      );
    }
    let gate = promotionGate(
      run.n.reprocessing,
      plan.target,
      {
        ...(await replayHealth(this.ctx, p, plan.target)),
        // the previous pass's reading: a replay's counts move slowly against its whole history
        ...(lastReading && judgedCounts(lastReading) ? { counts: judgedCounts(lastReading) } : {}),
      },
      p.metadata.annotations?.[PROMOTE_ANNOTATION],
    );
    if (startsFailing(gate, (p.status as PipelineStatus | undefined)?.conditions))
      await this.ctx.events.record(p, 'Warning', 'ReplayFailing', gate.reason);
    const legacy = plan.keep.some(
      (v) => v < plan.target && run.ofVersion(v).some((d) => d.metadata.name === childName(name)),
    );
    if (legacy) {
      gate = {
        ...gate,
        allow: false,
        reason: `version ${plan.active} moves from the previous release's Deployment ${childName(name)} to its own first; then version ${plan.target} may take over`,
      };
    }
    try {
      await writeGate(await run.redis(), name, {
        version: gate.version,
        allow: gate.allow,
        reason: gate.reason,
      });
      return { gate };
    } catch (e) {
      return { gate, error: `Redis: ${(e as Error).message}` };
    }
  }

  /** One kept version: measure, scale, and apply (the spec's version) or only scale (an older logic's). */
  private async versionStep(
    run: Pass,
    plan: VersionPlan,
    version: number,
    vm: VersionMemory,
    gate: GateResult,
  ): Promise<VersionPass> {
    const { p, n, ns, name } = run;
    const m = await measure(this.ctx, p, n, version, vm.rates);
    const own = run.ofVersion(version).find((d) => d.metadata.name === versionName(name, version));
    const legacy = run.ofVersion(version).find((d) => d.metadata.name === childName(name));
    const running = own ?? legacy;
    const current = running ? (running.spec?.replicas ?? n.scaling.minReplicas) : null;
    const label = plan.keep.length > 1 ? `version ${version}: ` : '';
    const scaled = await scaleStep(this.ctx, p, n, current, m, vm, label);
    let dep: DeploymentObject | undefined = running;
    if (version === plan.target && plan.applySpec && !(gate.error && !own && version > plan.active)) {
      dep = await this.apply(p, scaled.replicas, version, n.logicFingerprint);
      if (legacy && rolloutOf(dep, scaled.replicas).ready) await this.replaceLegacy(p, version);
    } else if (legacy && !own && plan.applySpec) {
      // The active version still runs in the previous release's Deployment (pre-upgrade image)
      // while a new version replays: it moves to its own Deployment, with the logic it has, before
      // the gate lets the new version take over (an old-image pod restarting after the switch
      // would register its version as the active one again).
      const frozen = await this.frozenPipeline(p, legacy);
      if (frozen) {
        dep = await this.apply(frozen, scaled.replicas, version, deployedVersion(legacy).fingerprint ?? '');
        if (rolloutOf(dep, scaled.replicas).ready) await this.replaceLegacy(p, version);
      }
    } else if (running && running.spec?.replicas !== scaled.replicas) {
      // a version whose logic is not the spec's any more keeps its ConfigMap: only its scale changes
      dep = await this.ctx.client.mergePatch<DeploymentObject>(paths.deployment(ns, running.metadata.name), {
        spec: { replicas: scaled.replicas },
      });
    }
    return {
      version,
      m,
      plan: scaled,
      rollout: rolloutOf(dep ?? { metadata: { name: '' } }, scaled.replicas),
      ...(dep?.metadata.creationTimestamp ? { startedAt: dep.metadata.creationTimestamp } : {}),
    };
  }

  /** Status fields, status.versions and conditions (pure builders in reconcile/status.ts); true when settled. */
  private async statusStep(
    run: Pass,
    plan: VersionPlan,
    registry: { active: number | null; error?: string },
    passes: VersionPass[],
    gate: GateResult,
  ): Promise<boolean> {
    const activeVersion = registry.active ?? plan.active;
    const active =
      passes.find((x) => x.version === activeVersion) ?? passes.find((x) => x.version === plan.active)!;
    const target = passes.find((x) => x.version === plan.target) ?? active;
    this.recordMetrics(run.p, active);
    const errors = [registry.error, gate.error, ...passes.map((x) => x.m.error)].filter(
      (e): e is string => !!e,
    );
    const replaying = passes.find((x) => x.version > activeVersion);
    const status = buildStatus({
      running: active.rollout.running,
      // the scale subresource's selector (HPA, `kubectl scale`): the active version's pods only
      selector: `${selectorString(run.name)},${VERSION_LABEL}=${activeVersion}`,
      activeVersion,
      latestVersion: Math.max(run.recorded ?? 0, plan.target),
      m: active.m,
      hot: active.plan.hot,
    });
    const versions = passes.map((x) =>
      versionEntry({
        version: x.version,
        role: x.version === active.version ? 'active' : 'replaying',
        running: x.rollout.running,
        m: x.m,
        ...(x.startedAt ? { startedAt: x.startedAt } : {}),
        ...(active.m.rate.total === undefined ? {} : { inputRate: active.m.rate.total }),
      }),
    );
    // the processors' default threshold: they decide the switch, this only words the condition
    const caughtUp = (replaying?.m.lag?.totalLag ?? Number.POSITIVE_INFINITY) <= CAUGHT_UP_LAG;
    await writeStatus(this.ctx, run.p, { ...status, versions }, [
      readyCondition(active.rollout, active.plan.replicas, active.version),
      progressingCondition(target.rollout, target.plan.replicas),
      this.degraded(errors, gate.gate),
      target.plan.condition,
      replayCondition(activeVersion, plan.target, gate.gate, caughtUp),
    ]);
    return active.rollout.ready && target.rollout.ready;
  }

  private degraded(errors: string[], gate: { failing: boolean; reason: string } | undefined): ConditionInput {
    if (gate?.failing)
      return { type: 'Degraded', status: 'True', reason: 'ReplayFailing', message: gate.reason };
    return degradedCondition(errors.length > 0 ? errors.join('; ') : undefined);
  }

  private versioned(d: DeploymentObject, pipeline: string): VersionedDeployment {
    return { ...deployedVersion(d), name: d.metadata.name, legacy: d.metadata.name === childName(pipeline) };
  }

  /** Memory of the kept versions (others are forgotten); a new Pipeline (uid) starts afresh. */
  private memoryFor(key: string, p: PipelineObject, keep: number[]): Map<number, VersionMemory> {
    let mem = this.memory.get(key);
    if (!mem || mem.uid !== (p.metadata.uid ?? '')) {
      mem = { uid: p.metadata.uid ?? '', versions: new Map() };
      this.memory.set(key, mem);
    }
    for (const v of [...mem.versions.keys()]) if (!keep.includes(v)) mem.versions.delete(v);
    for (const v of keep) {
      if (!mem.versions.has(v))
        mem.versions.set(v, { stabilizer: emptyState(Date.now()), rates: new RateTracker(), lastHot: '' });
    }
    return mem.versions;
  }

  /** The "apply" step for the version the spec runs: what should exist, with server-side apply. */
  private async apply(
    p: PipelineObject,
    replicas: number,
    version: number,
    fingerprint: string,
  ): Promise<DeploymentObject> {
    const ns = p.metadata.namespace ?? 'default';
    const name = versionName(p.metadata.name, version);
    const settings = this.settings();
    await this.ctx.client.apply(paths.configMap(ns, name), desiredConfigMap(p, version), FIELD_MANAGER);
    const dep = await this.ctx.client.apply<DeploymentObject>(
      paths.deployment(ns, name),
      desiredDeployment(p, replicas, version, fingerprint, settings),
      FIELD_MANAGER,
    );
    await this.ctx.client.apply(
      paths.service(ns, childName(p.metadata.name)),
      desiredService(p),
      FIELD_MANAGER,
    );
    return dep;
  }

  /**
   * Upgrading from the release with one Deployment per Pipeline: the same version's own Deployment
   * (same consumer group and keys) is fully available, so the old one goes without a gap.
   */
  private async replaceLegacy(p: PipelineObject, version: number): Promise<void> {
    const ns = p.metadata.namespace ?? 'default';
    const legacy = childName(p.metadata.name);
    await this.ctx.client.delete(paths.deployment(ns, legacy));
    await this.ctx.client.delete(paths.configMap(ns, legacy));
    await this.ctx.events.record(
      p,
      'Normal',
      'Migrated',
      `version ${version} runs in Deployment ${versionName(p.metadata.name, version)}; the single Deployment ${legacy} of the previous release is deleted`,
    );
  }

  /** The Pipeline as the previous release's Deployment runs it: the spec from its ConfigMap. */
  private async frozenPipeline(p: PipelineObject, legacy: DeploymentObject): Promise<PipelineObject | null> {
    const cm = await this.ctx.client.getOrNull<KubeObject & { data?: Record<string, string> }>(
      paths.configMap(p.metadata.namespace ?? 'default', childName(p.metadata.name)),
    );
    const text = cm?.data?.[CONFIG_FILE];
    if (!text) return null;
    const spec = (parse(text) as { spec?: PipelineObject['spec'] }).spec;
    if (!spec) return null;
    const { [REPLAY_ANNOTATION]: _current, ...annotations } = p.metadata.annotations ?? {};
    const served = legacy.metadata.annotations?.[REPLAY_ANNOTATION];
    return {
      ...p,
      metadata: {
        ...p.metadata,
        annotations: { ...annotations, ...(served ? { [REPLAY_ANNOTATION]: served } : {}) },
      },
      spec,
    };
  }

  private recordMetrics(p: PipelineObject, active: VersionPass) {
    const labels = { namespace: p.metadata.namespace ?? 'default', pipeline: p.metadata.name };
    this.ctx.metrics.desiredReplicas.set(labels, active.plan.replicas);
    if (active.m.lag) this.ctx.metrics.lag.set(labels, active.m.lag.totalLag);
    if (active.m.rate.total !== undefined) this.ctx.metrics.inputRate.set(labels, active.m.rate.total);
    this.ctx.metrics.hotPartitions.set(labels, active.plan.hot.length);
  }

  private async finalize(key: string, p: PipelineObject): Promise<ReconcileResult> {
    const result = await finalize(this.ctx, p);
    if (result.requeueAfterMs === undefined) this.memory.delete(key);
    return result;
  }
}
