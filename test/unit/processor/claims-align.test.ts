// Where a batch stands against the Redis checkpoint, also on a transactional topic whose aborted
// records and markers kafkajs skips without a batch (the session windows' repartition topic).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alignWithCheckpoint, type Claim, skipEmptyRange } from '../../../processor/src/consumer/claims.ts';
import { OwnedWindows } from '../../../processor/src/state/owned-windows.ts';

const claimAt = (nextOffset: string | null): Claim => ({
  epoch: 1,
  nextOffset,
  watermark: 0,
  generation: 1,
  windows: new OwnedWindows(),
});

describe('alignWithCheckpoint', () => {
  it('processes a batch at the checkpoint, skips what Redis has, seeks back when Kafka is ahead', () => {
    expect(alignWithCheckpoint(claimAt('10'), '10')).toEqual({ action: 'process', skipBefore: null });
    expect(alignWithCheckpoint(claimAt('10'), '7')).toEqual({ action: 'process', skipBefore: 10n });
    expect(alignWithCheckpoint(claimAt('10'), '12')).toEqual({ action: 'seek', offset: '10' });
    expect(alignWithCheckpoint(claimAt(null), '12')).toEqual({ action: 'process', skipBefore: null });
  });

  it('after an empty range at the checkpoint (aborted records, markers), the batch after it is in place', () => {
    const claim = claimAt('10');
    skipEmptyRange(claim, '10', '14');
    expect(alignWithCheckpoint(claim, '15')).toEqual({ action: 'process', skipBefore: null });
    // two empty ranges in a row
    skipEmptyRange(claim, '15', '16');
    expect(alignWithCheckpoint(claim, '17')).toEqual({ action: 'process', skipBefore: null });
    // a gap beyond the empty ranges is still Kafka being ahead
    expect(alignWithCheckpoint(claim, '18')).toEqual({ action: 'seek', offset: '10' });
  });

  it('an empty range that does not reach where records begin changes nothing', () => {
    const claim = claimAt('10');
    skipEmptyRange(claim, '12', '14');
    expect(alignWithCheckpoint(claim, '15')).toEqual({ action: 'seek', offset: '10' });
    skipEmptyRange(claim, '3', '8');
    expect(alignWithCheckpoint(claim, '11')).toEqual({ action: 'seek', offset: '10' });
  });

  it('property: a batch is in place exactly when empty ranges cover everything from the checkpoint to it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 5 }),
        fc.integer({ min: 0, max: 3 }),
        (checkpoint, ranges, gap) => {
          const claim = claimAt(String(checkpoint));
          let at = checkpoint;
          for (const length of ranges) {
            skipEmptyRange(claim, String(at), String(at + length - 1));
            at += length;
          }
          const alignment = alignWithCheckpoint(claim, String(at + gap));
          expect(alignment.action).toBe(gap === 0 ? 'process' : 'seek');
        },
      ),
    );
  });
});
