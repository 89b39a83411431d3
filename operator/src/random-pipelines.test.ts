import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { specIssues, validatePipelineObject } from '../../processor/src/spec/validate.ts';
import {
  desiredConfigMap,
  desiredDeployment,
  desiredService,
  type PipelineObject,
  type ProcessorSettings,
} from './resources.ts';

const settings: ProcessorSettings = {
  image: 'kappaflow:1',
  kafkaBrokers: 'k:9092',
  redisUrl: 'redis://r:6379',
};

const validSpec = {
  source: { topic: 'page-views', format: 'json', eventTime: { field: 'ts' } },
  groupBy: { page: 'event.page' },
  window: { type: 'tumbling', size: '1m', grace: '10s' },
  aggregates: { n: { count: {} }, bytes: { sum: 'event.bytes' } },
  redis: { waitForReplicas: 1 },
  scaling: { minReplicas: 1, maxReplicas: 4 },
};

/** A valid spec with some fields replaced by anything at all, or anything at all as the spec. */
const spec = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc
    .array(
      fc.tuple(
        fc.constantFrom(
          'source',
          'groupBy',
          'window',
          'aggregates',
          'redis',
          'scaling',
          'where',
          'sink',
          'kafka',
        ),
        fc.anything({ maxDepth: 3 }),
      ),
      { maxLength: 3 },
    )
    .map((changes) => ({ ...validSpec, ...Object.fromEntries(changes) })),
  fc.constant(validSpec),
);

const object = fc.record({
  apiVersion: fc.constantFrom('kappaflow.io/v1alpha1', 'kappaflow.io/v2', ''),
  kind: fc.constantFrom('Pipeline', 'Deployment'),
  metadata: fc.record({
    name: fc.oneof(fc.constantFrom('views', 'a'.repeat(40), 'Views', ''), fc.string({ maxLength: 50 })),
    namespace: fc.constant('team'),
    uid: fc.constant('u-1'),
    generation: fc.nat(),
  }),
  spec,
});

/** What the operator does with every Pipeline it sees: validate, then (when valid) build its objects. */
describe('random Pipeline objects through the operator’s validation and resource building', () => {
  it('never throw: invalid ones get issues with a path, valid ones valid child objects', () => {
    let valid = 0;
    fc.assert(
      fc.property(object, (p) => {
        const validation = validatePipelineObject(p);
        if (!validation.ok) {
          const issues = specIssues(validation);
          expect(issues.length).toBeGreaterThan(0);
          for (const issue of issues) expect(issue.message.length).toBeGreaterThan(0);
          return;
        }
        valid++;
        const pipeline = p as unknown as PipelineObject;
        for (const o of [
          desiredConfigMap(pipeline, 1),
          desiredDeployment(pipeline, 2, 1, validation.normalized.logicFingerprint, settings),
          desiredService(pipeline),
        ]) {
          expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
        }
      }),
      { numRuns: 500, seed: 20261128 },
    );
    // Both branches ran: the valid one too, not only refusals.
    expect(valid).toBeGreaterThan(10);
  });
});
