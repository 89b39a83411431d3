// Pure builders of status and conditions: from what the steps measured, decided and applied.
import type { PipelineStatus } from '../../../processor/src/spec/status.ts';
import type { ConditionInput } from '../conditions.ts';
import type { HotPartition } from '../scaler/index.ts';
import type { DeploymentObject } from './context.ts';
import type { Measurement } from './measure.ts';

export interface Rollout {
  /** the Deployment controller has seen this generation and every desired pod runs it */
  rolledOut: boolean;
  available: number;
  ready: boolean;
  updated: number;
  running: number;
}

export function rolloutOf(dep: DeploymentObject, replicas: number): Rollout {
  const ds = dep.status ?? {};
  const rolledOut =
    (ds.observedGeneration ?? 0) >= (dep.metadata.generation ?? 0) &&
    (ds.updatedReplicas ?? 0) >= replicas &&
    (ds.replicas ?? 0) === replicas;
  const available = ds.availableReplicas ?? 0;
  return {
    rolledOut,
    available,
    ready: rolledOut && available >= replicas,
    updated: ds.updatedReplicas ?? 0,
    running: ds.replicas ?? 0,
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** status fields (conditions apart) of one pass. */
export function buildStatus(input: {
  running: number;
  selector: string;
  activeVersion: number;
  latestVersion: number;
  m: Measurement;
  hot: HotPartition[];
}): PipelineStatus {
  const { m, hot } = input;
  const watermarks = m.beats
    .flatMap((b) => Object.values(b.watermarks))
    .filter((w) => Number.isFinite(w) && w > 0);
  return {
    replicas: input.running,
    selector: input.selector,
    activeVersion: input.activeVersion,
    latestVersion: input.latestVersion,
    ...(m.lag ? { lag: m.lag.totalLag } : {}),
    ...(m.rate.total === undefined ? {} : { inputRate: round2(m.rate.total) }),
    ...(watermarks.length > 0 ? { watermark: new Date(Math.min(...watermarks)).toISOString() } : {}),
    hotPartitions: hot.map((h) => {
      const source = m.lag?.partitions.find((q) => q.id === h.partition);
      return {
        ...(source ? { topic: source.topic } : {}),
        partition: source ? source.partition : Number(h.partition.split('.').pop()),
        lag: h.lag,
        ...(h.recordsPerSecond === undefined ? {} : { recordsPerSecond: round2(h.recordsPerSecond) }),
      };
    }),
  };
}

export function readyCondition(r: Rollout, replicas: number, version: number): ConditionInput {
  const message = `${r.available}/${replicas} processors available (version ${version})`;
  return r.ready
    ? { type: 'Ready', status: 'True', reason: 'ProcessorsReady', message }
    : { type: 'Ready', status: 'False', reason: 'ProcessorsNotReady', message };
}

export function progressingCondition(r: Rollout, replicas: number): ConditionInput {
  return r.rolledOut
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
        message: `${r.updated} of ${replicas} processors updated, ${r.running} running`,
      };
}

export function degradedCondition(measureError: string | undefined): ConditionInput {
  return measureError
    ? { type: 'Degraded', status: 'True', reason: 'MetricsUnavailable', message: measureError }
    : {
        type: 'Degraded',
        status: 'False',
        reason: 'AsExpected',
        message: 'spec valid, lag and replica metrics readable',
      };
}

export function reprocessingCondition(activeVersion: number, version: number): ConditionInput {
  return activeVersion < version
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
      };
}

/** The conditions of an invalid spec: Degraded with every error, not Ready; processors untouched. */
export function invalidSpecConditions(message: string): ConditionInput[] {
  return [
    { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message },
    {
      type: 'Ready',
      status: 'False',
      reason: 'InvalidSpec',
      message: 'the spec is invalid; the processors keep running the last valid spec',
    },
  ];
}

export interface VersionReport {
  version: number;
  role: 'active' | 'replaying';
  running: number;
  m: Measurement;
  startedAt?: string;
  /** records/s arriving at the source (the active version's reading), for the ETA */
  inputRate?: number;
}

/** One entry of status.versions: ETA = lag / (replay rate - input rate), only while it gains. */
export function versionEntry(r: VersionReport): NonNullable<PipelineStatus['versions']>[number] {
  const rate = r.m.beats.reduce(
    (s, b) => s + (Number.isFinite(b.recordsPerSecond) ? b.recordsPerSecond : 0),
    0,
  );
  const gain = rate - (r.inputRate ?? 0);
  const lag = r.m.lag?.totalLag;
  return {
    version: r.version,
    role: r.role,
    replicas: r.running,
    ...(lag === undefined ? {} : { lag }),
    recordsPerSecond: round2(rate),
    ...(r.role === 'replaying' && lag !== undefined && (lag === 0 || gain > 0)
      ? { etaSeconds: lag === 0 ? 0 : Math.ceil(lag / gain) }
      : {}),
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
  };
}

/** Reprocessing while a replay runs: catching up, held by manual promotion, or failing. */
export function replayCondition(
  active: number,
  target: number,
  gate: { allow: boolean; failing: boolean; reason: string } | undefined,
  caughtUp: boolean,
): ConditionInput {
  if (active >= target) return reprocessingCondition(active, target);
  if (gate?.failing)
    return { type: 'Reprocessing', status: 'True', reason: 'ReplayFailing', message: gate.reason };
  if (gate && !gate.allow && caughtUp)
    return { type: 'Reprocessing', status: 'True', reason: 'WaitingForPromotion', message: gate.reason };
  return reprocessingCondition(active, target);
}
