// The "decide version" step's pure core for blue/green reprocessing: which versions keep a
// Deployment, which one runs the current spec, and which ones go. A version's Deployment keeps the
// logic it started with (its own ConfigMap): the active version keeps consuming live while a newer
// one replays the log beside it, and a spec reverted to the active version's logic aborts the replay.
import { type DeployedVersion, type DesiredLogic, decideVersion } from '../versioning.ts';

export interface VersionedDeployment extends DeployedVersion {
  /** Deployment name */
  name: string;
  /** the single Deployment of the release before versioned Deployments (kappaflow-<pipeline>) */
  legacy: boolean;
}

export interface VersionPlan {
  /** the version the current spec runs (its Deployment is applied from the spec) */
  target: number;
  /** false while nothing may change (the active version is unknown): every Deployment only scales */
  applySpec: boolean;
  /** the version queries read, as far as known (the registry; else the oldest Deployment) */
  active: number;
  /** a new version starts: why */
  reason?: 'logic' | 'replay';
  /** versions whose Deployments stay (active and target) */
  keep: number[];
  /** replaying versions that go with their keys and group: the spec was reverted, or a newer one replaces them */
  abort: { version: number; why: 'reverted' | 'superseded' }[];
  /** versions older than the active one: promoted away, they go with their keys and group */
  retire: number[];
}

/**
 * `deployed`: the Pipeline's Deployments (any order). `registryActive`: the active version in Redis
 * (null when unknown: then nothing older than the oldest Deployment is retired). `recorded`:
 * status.latestVersion, seeding the first version.
 */
export function planVersions(
  deployed: VersionedDeployment[],
  desired: DesiredLogic,
  registryActive: number | null,
  recorded?: number,
): VersionPlan {
  if (deployed.length === 0) {
    const { version } = decideVersion(null, desired, recorded);
    return {
      target: version,
      applySpec: true,
      active: registryActive ?? version,
      keep: [version],
      abort: [],
      retire: [],
    };
  }
  const versions = [...new Set(deployed.map((d) => d.version))].sort((a, b) => a - b);
  if (registryActive === null && versions.length > 1) {
    // Which one serves queries is unknown (Redis unreadable): change nothing until it is known.
    const newest = versions[versions.length - 1]!;
    return {
      target: newest,
      applySpec: !decideVersion(describeOf(deployed, newest), desired).reason,
      active: versions[0]!,
      keep: versions,
      abort: [],
      retire: [],
    };
  }
  const oldest = versions[0]!;
  const newest = versions[versions.length - 1]!;
  // The registry can run ahead of what is deployed (the processors promoted the newest): never past it.
  const active =
    registryActive !== null && versions.includes(registryActive)
      ? registryActive
      : registryActive !== null && registryActive > newest
        ? newest
        : oldest;
  const retire = versions.filter((v) => v < active);
  const describe = (v: number) => describeOf(deployed, v);
  const vsNewest = decideVersion(describe(newest), desired);
  if (!vsNewest.reason) {
    return {
      target: newest,
      applySpec: true,
      active,
      keep: [...new Set([active, newest])],
      abort: [],
      retire,
    };
  }
  const between = versions.filter((v) => v > active);
  if (newest > active && !decideVersion(describe(active), desired).reason) {
    return {
      target: active,
      applySpec: true,
      active,
      keep: [active],
      abort: between.map((version) => ({ version, why: 'reverted' as const })),
      retire,
    };
  }
  // never reuse a number: a version aborted earlier may still have state being deleted
  const next = Math.max(vsNewest.version, (recorded ?? 0) + 1);
  return {
    target: next,
    applySpec: true,
    active,
    reason: vsNewest.reason,
    keep: [active, next],
    abort: between.map((version) => ({ version, why: 'superseded' as const })),
    retire,
  };
}

/** What version `v` runs: the versioned Deployment's annotations rather than the legacy one's. */
function describeOf(deployed: VersionedDeployment[], v: number): VersionedDeployment {
  const all = deployed.filter((d) => d.version === v);
  return all.find((d) => !d.legacy) ?? all[0]!;
}
