// Reading a chosen live version (`?version=N`): the active one, or the newer one replaying the log
// beside it (Kappa reprocessing), so its answers can be compared before the switch.
import type { RedisClient } from '../state/connection.ts';
import { type PipelineRegistration, readRegistration } from '../state/registry.ts';
import { pendingRegistration } from '../state/versions.ts';
import { badRequest, notFound } from './errors.ts';
import { single } from './params.ts';

/** The registration queries read: the active version's, or `version`'s when it is live. */
export async function registrationOf(
  redis: RedisClient,
  name: string,
  version?: number,
): Promise<PipelineRegistration> {
  const active = await readRegistration(redis, name);
  if (!active) throw notFound('unknown_pipeline', `no pipeline named ${JSON.stringify(name)}`);
  if (version === undefined || version === active.activeVersion) return active;
  const pending = await pendingRegistration(redis, name);
  if (pending && pending.activeVersion === version && version > active.activeVersion) return pending;
  throw notFound(
    'unknown_version',
    `version ${version} of pipeline ${name} is not live: the active version is ${active.activeVersion}${
      pending && pending.activeVersion > active.activeVersion
        ? `, version ${pending.activeVersion} is replaying`
        : ''
    }`,
  );
}

/**
 * `version=N` of a query string: a whole number ≥ 1 given once, or absent (the active version).
 * Anything else (`0`, `abc`, a repeat) is a malformed request, 400 invalid_parameter; whether a
 * well-formed N is live is registrationOf's 404 unknown_version.
 */
export function parseVersion(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  // single(): a repeat is refused like every other parameter's, not settled by taking one of them
  const text = single('version', raw);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw badRequest(
      'invalid_parameter',
      `version: expected a version number (1, 2, ...), got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

export interface LiveVersion {
  version: number;
  role: 'active' | 'replaying';
  /** records folded into it so far (its checkpoints) */
  records: number;
  /** its lowest partition watermark (null: nothing committed yet) */
  watermark: number | null;
}

/** Summaries of the live versions for GET /pipelines: the active one, and the replaying one if any. */
export function liveVersions(
  active: { version: number; records: number; watermark: number | null },
  replaying: {
    version: number;
    statuses: { committed: boolean; watermark: number | null; records: number }[];
  } | null,
): LiveVersion[] {
  const out: LiveVersion[] = [{ ...active, role: 'active' }];
  if (replaying && replaying.version > active.version) {
    const committed = replaying.statuses.filter((s) => s.committed && s.watermark !== null);
    out.push({
      version: replaying.version,
      role: 'replaying',
      records: replaying.statuses.reduce((sum, s) => sum + s.records, 0),
      watermark: committed.length > 0 ? Math.min(...committed.map((s) => s.watermark!)) : null,
    });
  }
  return out;
}
