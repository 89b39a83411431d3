import { FINGERPRINT_ANNOTATION, VERSION_LABEL } from '../resources.ts';
import { type DeployedVersion, REPLAY_ANNOTATION } from '../versioning.ts';
import type { DeploymentObject } from './context.ts';

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

/** The NewVersion Event's message. */
export function newVersionEvent(
  version: number,
  reason: 'logic' | 'replay',
  replay: string | undefined,
): string {
  return reason === 'logic'
    ? `the pipeline's logic changed: version ${version} reprocesses the log into its own keys`
    : `replay requested (${REPLAY_ANNOTATION}=${replay}): version ${version} reprocesses the log into its own keys`;
}
