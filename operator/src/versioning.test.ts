import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideVersion } from './versioning.ts';

describe('decideVersion', () => {
  it('starts at the recorded latest version, or 1', () => {
    expect(decideVersion(null, { fingerprint: 'a' })).toEqual({ version: 1 });
    expect(decideVersion(null, { fingerprint: 'a' }, 4)).toEqual({ version: 4 });
    expect(decideVersion(null, { fingerprint: 'a', replay: 'x' }, 0)).toEqual({ version: 1 });
  });

  it('keeps the version while logic and replay request stay the same', () => {
    expect(decideVersion({ version: 3, fingerprint: 'a' }, { fingerprint: 'a' })).toEqual({ version: 3 });
    expect(
      decideVersion({ version: 3, fingerprint: 'a', replay: 'r1' }, { fingerprint: 'a', replay: 'r1' }),
    ).toEqual({
      version: 3,
    });
    // removing the request is not a new request
    expect(decideVersion({ version: 3, fingerprint: 'a', replay: 'r1' }, { fingerprint: 'a' })).toEqual({
      version: 3,
    });
  });

  it("keeps the version of a Deployment annotated with the same logic's earlier fingerprint", () => {
    const desired = { fingerprint: 'new', earlierFingerprints: ['old'] };
    expect(decideVersion({ version: 3, fingerprint: 'old' }, desired)).toEqual({ version: 3 });
    expect(decideVersion({ version: 3, fingerprint: 'other' }, desired)).toEqual({
      version: 4,
      reason: 'logic',
    });
  });

  it('moves to the next version on a logic change or a new replay request', () => {
    expect(decideVersion({ version: 3, fingerprint: 'a' }, { fingerprint: 'b' })).toEqual({
      version: 4,
      reason: 'logic',
    });
    expect(decideVersion({ version: 3, fingerprint: 'a' }, { fingerprint: 'a', replay: 'r1' })).toEqual({
      version: 4,
      reason: 'replay',
    });
    expect(
      decideVersion({ version: 3, fingerprint: 'a', replay: 'r1' }, { fingerprint: 'a', replay: 'r2' }),
    ).toEqual({
      version: 4,
      reason: 'replay',
    });
  });

  it('never goes back and moves by at most one (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom('a', 'b'),
        fc.constantFrom('a', 'b'),
        fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }),
        fc.option(fc.constantFrom('r1', 'r2'), { nil: undefined }),
        (version, deployedFp, desiredFp, deployedReplay, desiredReplay) => {
          const d = decideVersion(
            { version, fingerprint: deployedFp, ...(deployedReplay ? { replay: deployedReplay } : {}) },
            { fingerprint: desiredFp, ...(desiredReplay ? { replay: desiredReplay } : {}) },
          );
          expect(d.version - version).toBe(d.reason ? 1 : 0);
          // applying the same input again (the Deployment now records it) changes nothing: idempotent
          const again = decideVersion(
            {
              version: d.version,
              fingerprint: desiredFp,
              ...(desiredReplay ? { replay: desiredReplay } : {}),
            },
            { fingerprint: desiredFp, ...(desiredReplay ? { replay: desiredReplay } : {}) },
          );
          expect(again).toEqual({ version: d.version });
        },
      ),
    );
  });
});
