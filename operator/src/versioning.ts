// Which version of a pipeline the processors run. A new version replays the log into its own keys
// (Kappa reprocessing): when the logic changes, or when a user asks for a replay.

/** Set on a Pipeline to ask for a replay: any new non-empty value (a date, a ticket) starts one. */
export const REPLAY_ANNOTATION = 'kappaflow.io/replay';

export interface DeployedVersion {
  version: number;
  /** the logic fingerprint the Deployment runs (annotation), when known */
  fingerprint?: string;
  /** the replay request the Deployment has served (annotation), when any */
  replay?: string;
}

export interface DesiredLogic {
  fingerprint: string;
  /** the same logic's fingerprints by earlier releases' rules: a Deployment with one keeps its version */
  earlierFingerprints?: readonly string[];
  replay?: string;
}

export interface VersionDecision {
  version: number;
  /** why the version changed; absent when it did not */
  reason?: 'logic' | 'replay';
}

/**
 * The version to run. `deployed` is what the current Deployment runs (null before the first
 * reconcile, when `recorded`, the Pipeline's status.latestVersion, seeds it).
 */
export function decideVersion(
  deployed: DeployedVersion | null,
  desired: DesiredLogic,
  recorded?: number,
): VersionDecision {
  if (!deployed) {
    const seed = recorded !== undefined && Number.isInteger(recorded) && recorded >= 1 ? recorded : 1;
    return { version: seed };
  }
  const version = Number.isInteger(deployed.version) && deployed.version >= 1 ? deployed.version : 1;
  if (
    deployed.fingerprint &&
    deployed.fingerprint !== desired.fingerprint &&
    !desired.earlierFingerprints?.includes(deployed.fingerprint)
  ) {
    return { version: version + 1, reason: 'logic' };
  }
  if (desired.replay && desired.replay !== (deployed.replay ?? '')) {
    return { version: version + 1, reason: 'replay' };
  }
  return { version };
}
