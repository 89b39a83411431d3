// Which version queries read (activateVersion-1.lua), against a real Redis: offers, the pending
// entry, promotion, refusal of older versions, and finding the versions left to delete.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { connectRedis } from '../../../processor/src/state/connection.ts';
import { keys, partitionPrefix } from '../../../processor/src/state/keys.ts';
import { type PipelineRegistration, readRegistration } from '../../../processor/src/state/registry.ts';
import {
  clearGate,
  offerVersion,
  olderVersions,
  pendingRegistration,
  promoteVersion,
  readGate,
  retireVersion,
  writeGate,
} from '../../../processor/src/state/versions.ts';

const redis = connectRedis(inject('redisUrl'));
afterAll(async () => {
  await redis.quit();
});

const registration = (name: string, version: number): PipelineRegistration => ({
  name,
  activeVersion: version,
  topics: ['t'],
  partitions: ['0'],
  window: { type: 'tumbling', sizeMs: 1000, graceMs: 0 },
  groupBy: [],
  aggregates: [{ name: 'n', kind: 'count' }],
  retentionMs: 1000,
  updatedAt: 0,
});

describe('pipeline versions', () => {
  it('activates the first version, keeps newer ones pending until promoted, refuses older ones', async () => {
    const name = `versions-${randomUUID().slice(0, 8)}`;
    expect(await offerVersion(redis, registration(name, 1))).toEqual({ state: 'active', previous: null });
    expect(await offerVersion(redis, registration(name, 1))).toEqual({ state: 'active', previous: 1 });
    expect(await offerVersion(redis, registration(name, 3))).toEqual({ state: 'catching-up', active: 1 });
    // a pod of version 2 still rolling out does not hide the newer pending version 3
    expect(await offerVersion(redis, registration(name, 2))).toEqual({ state: 'catching-up', active: 1 });
    expect((await pendingRegistration(redis, name))?.activeVersion).toBe(3);
    expect((await readRegistration(redis, name))?.activeVersion).toBe(1);

    expect(await promoteVersion(redis, registration(name, 3))).toEqual({ state: 'active', previous: 1 });
    expect((await readRegistration(redis, name))?.activeVersion).toBe(3);
    expect(await pendingRegistration(redis, name)).toBeNull();
    // a restart of the active version keeps it; older versions are refused, even when promoting
    expect(await offerVersion(redis, registration(name, 3))).toEqual({ state: 'active', previous: 3 });
    expect(await offerVersion(redis, registration(name, 2))).toEqual({ state: 'superseded', active: 3 });
    expect(await promoteVersion(redis, registration(name, 2))).toEqual({ state: 'superseded', active: 3 });
  });

  it("the operator's gate: only the version it names and allows may take over", async () => {
    const name = `gate-${randomUUID().slice(0, 8)}`;
    await offerVersion(redis, registration(name, 1));
    await offerVersion(redis, registration(name, 2));
    await writeGate(redis, name, { version: 2, allow: false, reason: 'manual' });
    expect(await promoteVersion(redis, registration(name, 2))).toEqual({ state: 'catching-up', active: 1 });
    expect((await readRegistration(redis, name))?.activeVersion).toBe(1);
    expect((await pendingRegistration(redis, name))?.activeVersion).toBe(2);
    // a gate naming another version holds this one too (e.g. it is being aborted)
    await writeGate(redis, name, { version: 3, allow: true, reason: 'another replay' });
    expect(await promoteVersion(redis, registration(name, 2))).toEqual({ state: 'catching-up', active: 1 });
    await writeGate(redis, name, { version: 2, allow: true, reason: 'approved' });
    expect(await promoteVersion(redis, registration(name, 2))).toEqual({ state: 'active', previous: 1 });
    await offerVersion(redis, registration(name, 4));
    await writeGate(redis, name, { version: 4, allow: true, reason: 'approved' });
    expect(await promoteVersion(redis, registration(name, 4))).toEqual({ state: 'active', previous: 2 });
    expect(await readGate(redis, name)).toEqual({ version: 4, allow: true, reason: 'approved' });
    await clearGate(redis, name);
    expect(await readGate(redis, name)).toBeNull();
    // without a gate (no operator) a caught-up version takes over
    await offerVersion(redis, registration(name, 5));
    expect(await promoteVersion(redis, registration(name, 5))).toEqual({ state: 'active', previous: 4 });
  });

  it('finds every older version with state (also one replaced while catching up) and deletes only those', async () => {
    const name = `retire-${randomUUID().slice(0, 8)}`;
    for (const version of [1, 2, 3, 10]) {
      await redis.hset(keys.checkpoint(partitionPrefix(name, version, 0)), 'offset', '5');
      await redis.hset(keys.replicas(name, version), 'r', '{}');
    }
    await redis.hset(keys.checkpoint(partitionPrefix(`${name}-other`, 1, 0)), 'offset', '5');
    expect(await olderVersions(redis, name, 3)).toEqual([1, 2]);
    for (const v of await olderVersions(redis, name, 3)) await retireVersion(redis, name, v);
    // KEYS, not one SCAN step: a single step covers only part of a shared Redis
    const left = await redis.keys(`kf:{${name}*`);
    expect(left.sort()).toEqual(
      [
        keys.checkpoint(partitionPrefix(`${name}-other`, 1, 0)),
        keys.checkpoint(partitionPrefix(name, 3, 0)),
        keys.checkpoint(partitionPrefix(name, 10, 0)),
        keys.replicas(name, 3),
        keys.replicas(name, 10),
      ].sort(),
    );
  });
});
