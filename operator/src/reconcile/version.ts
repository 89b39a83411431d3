// The "decide version" step: which version the processors run (versioning.ts decides, purely),
// from what the Deployment runs and the Pipeline asks for; an Event when a new one starts.
import type { PipelineStatus } from '../../../processor/src/spec/status.ts';
import { FINGERPRINT_ANNOTATION, type PipelineObject, VERSION_LABEL } from '../resources.ts';
import { type DeployedVersion, decideVersion, REPLAY_ANNOTATION } from '../versioning.ts';
import type { DeploymentObject, ReconcileContext } from './context.ts';

/** What a Deployment runs, from its version label and annotations. */
export function deployedVersion(d: DeploymentObject): DeployedVersion {
  return {
    version: Number(d.metadata.labels?.[VERSION_LABEL] ?? 1),
    ...(d.metadata.annotations?.[FINGERPRINT_ANNOTATION]
      ? { fingerprint: d.metadata.annotations[FINGERPRINT_ANNOTATION] }
      : {}),
    ...(d.metadata.annotations?.[REPLAY_ANNOTATION]
      ? { replay: d.metadata.annotations[REPLAY_ANNOTATION] }
      : {}),
  };
}

export async function decideVersionStep(
  ctx: ReconcileContext,
  p: PipelineObject,
  fingerprint: string,
  existing: DeploymentObject | null,
): Promise<number> {
  // A change of logic (what the aggregates contain), or a replay request, starts a new version
  // from the log; queries keep reading the old one until it catches up.
  const replay = p.metadata.annotations?.[REPLAY_ANNOTATION];
  const decision = decideVersion(
    existing ? deployedVersion(existing) : null,
    { fingerprint, ...(replay ? { replay } : {}) },
    (p.status as PipelineStatus | undefined)?.latestVersion,
  );
  if (decision.reason) {
    await ctx.events.record(
      p,
      'Normal',
      'NewVersion',
      decision.reason === 'logic'
        ? `the pipeline's logic changed: version ${decision.version} reprocesses the log into its own keys`
        : `replay requested (${REPLAY_ANNOTATION}=${replay}): version ${decision.version} reprocesses the log into its own keys`,
    );
  }
  return decision.version;
}
