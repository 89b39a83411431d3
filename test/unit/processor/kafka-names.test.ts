import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consumerGroupOf,
  repartitionGroupOf,
  versionOfAnyGroup,
  versionOfConsumerGroup,
} from '../../../processor/src/model/kafka-names.ts';

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);

describe('consumer group names', () => {
  it('a version is read back from its group and its repartition group, and from nothing else of the pipeline', () => {
    fc.assert(
      fc.property(name, name, fc.nat(10_000), (pipeline, other, version) => {
        expect(versionOfConsumerGroup(pipeline, consumerGroupOf(pipeline, version))).toBe(version);
        expect(versionOfConsumerGroup(pipeline, repartitionGroupOf(pipeline, version))).toBeUndefined();
        expect(versionOfAnyGroup(pipeline, consumerGroupOf(pipeline, version))).toBe(version);
        expect(versionOfAnyGroup(pipeline, repartitionGroupOf(pipeline, version))).toBe(version);
        expect(versionOfAnyGroup(pipeline, `${consumerGroupOf(pipeline, version)}.other`)).toBeUndefined();
        if (other !== pipeline) {
          expect(versionOfAnyGroup(pipeline, consumerGroupOf(other, version))).toBeUndefined();
          expect(versionOfAnyGroup(pipeline, repartitionGroupOf(other, version))).toBeUndefined();
        }
      }),
    );
  });
});
