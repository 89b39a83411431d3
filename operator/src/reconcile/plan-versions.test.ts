import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planVersions, type VersionedDeployment } from './plan-versions.ts';

const dep = (
  version: number,
  fingerprint: string,
  extra: Partial<VersionedDeployment> = {},
): VersionedDeployment => ({
  version,
  fingerprint,
  name: `kappaflow-p-v${version}`,
  legacy: false,
  ...extra,
});

describe('planVersions', () => {
  it('first version: from status.latestVersion or 1', () => {
    expect(planVersions([], { fingerprint: 'a' }, null)).toMatchObject({ target: 1, active: 1, keep: [1] });
    expect(planVersions([], { fingerprint: 'a' }, null, 4)).toMatchObject({ target: 4, keep: [4] });
  });

  it('same logic: the active version runs the spec, nothing goes', () => {
    expect(planVersions([dep(2, 'a')], { fingerprint: 'a' }, 2, 2)).toEqual({
      target: 2,
      applySpec: true,
      active: 2,
      keep: [2],
      abort: [],
      retire: [],
    });
  });

  it('a logic change starts the next version beside the active one', () => {
    expect(planVersions([dep(2, 'a')], { fingerprint: 'b' }, 2, 2)).toMatchObject({
      target: 3,
      active: 2,
      reason: 'logic',
      keep: [2, 3],
      abort: [],
    });
    // while it replays, the same spec keeps both
    expect(planVersions([dep(2, 'a'), dep(3, 'b')], { fingerprint: 'b' }, 2, 3)).toMatchObject({
      target: 3,
      keep: [2, 3],
      abort: [],
    });
  });

  it('reverting the spec to the active logic aborts the replay', () => {
    expect(planVersions([dep(2, 'a'), dep(3, 'b')], { fingerprint: 'a' }, 2, 3)).toMatchObject({
      target: 2,
      keep: [2],
      abort: [{ version: 3, why: 'reverted' }],
    });
  });

  it('a third logic replaces the replay with a new number (never reused)', () => {
    expect(planVersions([dep(2, 'a'), dep(3, 'b')], { fingerprint: 'c' }, 2, 5)).toMatchObject({
      target: 6,
      keep: [2, 6],
      abort: [{ version: 3, why: 'superseded' }],
    });
  });

  it('after promotion the older version retires', () => {
    expect(planVersions([dep(2, 'a'), dep(3, 'b')], { fingerprint: 'b' }, 3, 3)).toMatchObject({
      target: 3,
      active: 3,
      keep: [3],
      retire: [2],
    });
  });

  it('a replay request starts a new version; removing it does not abort', () => {
    expect(planVersions([dep(2, 'a')], { fingerprint: 'a', replay: 'r1' }, 2, 2)).toMatchObject({
      target: 3,
      reason: 'replay',
    });
    expect(
      planVersions([dep(2, 'a'), dep(3, 'a', { replay: 'r1' })], { fingerprint: 'a' }, 2, 3),
    ).toMatchObject({
      target: 3,
      keep: [2, 3],
      abort: [],
    });
  });

  it('the Deployment of the previous release (legacy) is the same version: kept, replaced by its own', () => {
    const legacy = dep(1, 'a', { name: 'kappaflow-p', legacy: true });
    expect(planVersions([legacy], { fingerprint: 'a' }, 1, 1)).toMatchObject({ target: 1, keep: [1] });
    // combined upgrade and logic change: the legacy one stays active while version 2 replays
    expect(planVersions([legacy], { fingerprint: 'b' }, 1, 1)).toMatchObject({ target: 2, keep: [1, 2] });
  });

  it('with the active version unknown (Redis unreadable) nothing goes and a new logic is not applied', () => {
    expect(planVersions([dep(2, 'a'), dep(3, 'b')], { fingerprint: 'a' }, null, 3)).toMatchObject({
      applySpec: false,
      keep: [2, 3],
      abort: [],
      retire: [],
    });
  });

  it('never removes the active version, always keeps the target, numbers only grow (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 3, maxLength: 3 }),
        fc.constantFrom('a', 'b', 'c', 'd'),
        fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }),
        (versions, fps, desired, registry) => {
          const deployed = versions.map((v, i) => dep(v, fps[i]!));
          const recorded = Math.max(...versions);
          const plan = planVersions(deployed, { fingerprint: desired }, registry, recorded);
          const removed = [...plan.abort.map((a) => a.version), ...plan.retire];
          expect(removed).not.toContain(plan.active);
          expect(removed).not.toContain(plan.target);
          expect(plan.keep).toContain(plan.target);
          expect(plan.keep).toContain(plan.active);
          expect(plan.target).toBeGreaterThanOrEqual(plan.active);
          if (plan.reason) expect(plan.target).toBeGreaterThan(recorded);
          if (registry !== null && versions.includes(registry)) expect(plan.active).toBe(registry);
        },
      ),
    );
  });
});
