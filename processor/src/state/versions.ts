import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';
import { scanMatching, unlinkMatching } from './purge.ts';
import type { PipelineRegistration } from './registry.ts';

/** Where a version stands against the one the query API serves. */
export type Activation =
  | { state: 'active'; previous: number | null }
  | { state: 'catching-up'; active: number }
  | { state: 'superseded'; active: number };

/**
 * A replica of this version starts: the version becomes the active one when the pipeline has
 * none or already serves it; a newer version registers as pending and catches up first.
 */
export function offerVersion(redis: RedisClient, registration: PipelineRegistration): Promise<Activation> {
  return activate(redis, registration, 'offer');
}

/** This version has caught up: it replaces the older active version in one step (any replica may call it). */
export function promoteVersion(redis: RedisClient, registration: PipelineRegistration): Promise<Activation> {
  return activate(redis, registration, 'promote');
}

async function activate(
  redis: RedisClient,
  registration: PipelineRegistration,
  mode: 'offer' | 'promote',
): Promise<Activation> {
  const [status, other] = await redis.activateVersion(
    keys.pipelines(),
    registration.name,
    String(registration.activeVersion),
    JSON.stringify(registration),
    mode,
  );
  if (Number(status) === 1) return { state: 'active', previous: Number(other) > 0 ? Number(other) : null };
  if (Number(status) === 0) return { state: 'catching-up', active: Number(other) };
  return { state: 'superseded', active: Number(other) };
}

/** The registration of a newer version still catching up, if any. */
export async function pendingRegistration(
  redis: RedisClient,
  name: string,
): Promise<PipelineRegistration | null> {
  const json = await redis.hget(keys.pipelines(), `${name}@pending`);
  return json === null ? null : (JSON.parse(json) as PipelineRegistration);
}

/** Deletes a version's state (every partition's keys and its replicas' heartbeats); returns how many keys. */
export async function retireVersion(redis: RedisClient, name: string, version: number): Promise<number> {
  // `kf:{name:1:*` does not match version 10: the version is followed by ':'.
  const removed = await unlinkMatching(redis, `kf:{${name}:${version}:*`);
  return removed + (await redis.unlink(keys.replicas(name, version)));
}

/**
 * The versions below `active` that still have state: the one it replaced, and any that was
 * replaced while still catching up (a second logic change during a replay).
 */
export async function olderVersions(redis: RedisClient, name: string, active: number): Promise<number[]> {
  const found = new Set<number>();
  // Keys are kf:{<name>:<version>:<partition>}:... and kf:{<name>:<version>}:replicas.
  const versionOf = new RegExp(`^kf:\\{${name}:(\\d+)[:}]`);
  await scanMatching(redis, `kf:{${name}:*`, (_, batch) => {
    for (const key of batch) {
      const v = Number(versionOf.exec(key)?.[1]);
      if (Number.isInteger(v) && v < active) found.add(v);
    }
  });
  return [...found].sort((a, b) => a - b);
}

/**
 * The operator's say on promoting: only the version it names, with `allow: true`, may take over
 * (held: manual promotion not yet approved, a failing replay; any other version, e.g. one being
 * aborted, never); activateVersion-1.lua checks it in the same step as the switch. Without a gate
 * (no operator) a caught-up version is promoted.
 */
export interface PromotionGate {
  version: number;
  allow: boolean;
  reason: string;
}

export async function writeGate(redis: RedisClient, name: string, gate: PromotionGate): Promise<void> {
  await redis.hset(keys.pipelines(), `${name}@gate`, JSON.stringify(gate));
}

export async function readGate(redis: RedisClient, name: string): Promise<PromotionGate | null> {
  const json = await redis.hget(keys.pipelines(), `${name}@gate`);
  return json === null ? null : (JSON.parse(json) as PromotionGate);
}

export async function clearGate(redis: RedisClient, name: string): Promise<void> {
  await redis.hdel(keys.pipelines(), `${name}@gate`);
}
