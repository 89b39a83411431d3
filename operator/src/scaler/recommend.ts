// The autoscaler's arithmetic, as pure functions: what replica count the inputs call for, before
// stabilization (stabilize.ts decides when to act on it).

export interface ScalingSpec {
  minReplicas: number;
  maxReplicas: number;
  /** records of lag per replica above which more replicas are wanted */
  lagThreshold: number;
  /** records/second one replica should handle; enables the rate-based term */
  targetRecordsPerReplica?: number;
  /** drain a backlog within this many seconds */
  catchUpSeconds: number;
}

export interface ScalingInputs {
  /** total consumer-group lag in records (sum over partitions) */
  lag: number;
  /** records/second arriving on the source topics (recent average); undefined when not measured yet */
  inputRate?: number;
  /** partitions of the source topics; undefined when unknown (topic missing) */
  partitions?: number;
  /** measured records/second of each live replica (heartbeats) */
  replicaRates: number[];
  /** replicas running now */
  currentReplicas: number;
}

export interface Recommendation {
  /** clamp(max(lagBased, rateBased, catchUp), lower, upper) */
  replicas: number;
  lagBased: number;
  rateBased: number;
  catchUp: number;
  lower: number;
  upper: number;
  /** per-replica throughput used by the catch-up term (records/second), when known */
  perReplicaCapacity?: number;
  /** which term decided, or the bound that clamped it */
  limitedBy: 'lag' | 'rate' | 'catchUp' | 'minReplicas' | 'maxReplicas' | 'partitions';
}

const finite = (n: number | undefined, fallback = 0) =>
  n !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;

/** The replica bounds: [minReplicas, min(maxReplicas, partitions)]; the upper bound wins a conflict. */
export function bounds(spec: ScalingSpec, partitions?: number): { lower: number; upper: number } {
  const byPartitions = partitions !== undefined && partitions > 0 ? partitions : Number.POSITIVE_INFINITY;
  const upper = Math.max(0, Math.min(spec.maxReplicas, byPartitions));
  const lower = Math.max(0, Math.min(spec.minReplicas, upper));
  return { lower, upper };
}

/**
 * Per-replica capacity from the replicas' measured rates. Replicas only show their capacity while
 * they are busy, so it is measured only while the lag is above the threshold (they have work
 * queued), capped by targetRecordsPerReplica; otherwise targetRecordsPerReplica is the estimate, if set.
 */
export function perReplicaCapacity(spec: ScalingSpec, inputs: ScalingInputs): number | undefined {
  const rates = inputs.replicaRates.filter((r) => Number.isFinite(r) && r > 0);
  if (inputs.lag > spec.lagThreshold && rates.length > 0) {
    const measured = rates.reduce((a, b) => a + b, 0) / rates.length;
    // Never above the user's stated budget: keeps the term monotone in lag (capacity can only
    // shrink when measurement kicks in, so more lag never asks for fewer replicas).
    return spec.targetRecordsPerReplica ? Math.min(measured, spec.targetRecordsPerReplica) : measured;
  }
  return spec.targetRecordsPerReplica;
}

export function recommend(spec: ScalingSpec, inputs: ScalingInputs): Recommendation {
  const lag = finite(inputs.lag);
  const rate = finite(inputs.inputRate);
  const lagBased = Math.ceil(lag / Math.max(1, spec.lagThreshold));
  const rateBased =
    spec.targetRecordsPerReplica && spec.targetRecordsPerReplica > 0
      ? Math.ceil(rate / spec.targetRecordsPerReplica)
      : 0;
  // Catch-up: enough throughput to keep up with the input and drain the backlog within catchUpSeconds.
  const capacity = perReplicaCapacity(spec, inputs);
  let catchUp = 0;
  if (lag > 0 && capacity !== undefined && capacity > 0) {
    catchUp = Math.ceil((rate + lag / Math.max(1, spec.catchUpSeconds)) / capacity);
  }
  const { lower, upper } = bounds(spec, inputs.partitions);
  const raw = Math.max(lagBased, rateBased, catchUp);
  const replicas = Math.min(upper, Math.max(lower, raw));
  let limitedBy: Recommendation['limitedBy'];
  if (raw > upper) {
    limitedBy =
      inputs.partitions !== undefined && inputs.partitions > 0 && inputs.partitions < spec.maxReplicas
        ? 'partitions'
        : 'maxReplicas';
  } else if (raw < lower) limitedBy = 'minReplicas';
  else if (raw === catchUp && catchUp > lagBased && catchUp > rateBased) limitedBy = 'catchUp';
  else if (raw === rateBased && rateBased > lagBased) limitedBy = 'rate';
  else limitedBy = 'lag';
  return {
    replicas,
    lagBased,
    rateBased,
    catchUp,
    lower,
    upper,
    ...(capacity === undefined ? {} : { perReplicaCapacity: capacity }),
    limitedBy,
  };
}

/** A one-line explanation of a recommendation, for Events and status. */
export function explain(rec: Recommendation, inputs: ScalingInputs): string {
  const parts = [
    `lag ${Math.round(inputs.lag)} -> ${rec.lagBased}`,
    `rate ${(inputs.inputRate ?? 0).toFixed(1)}/s -> ${rec.rateBased}`,
    `catch-up -> ${rec.catchUp}${rec.perReplicaCapacity ? ` (${rec.perReplicaCapacity.toFixed(1)}/s per replica)` : ''}`,
  ];
  return `${parts.join(', ')}; bounds [${rec.lower}, ${rec.upper}]; wants ${rec.replicas} (${rec.limitedBy})`;
}
