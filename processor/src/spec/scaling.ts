// `spec.scaling`: how many processor replicas the operator runs.
import { z } from 'zod';
import { duration, k8sRules, positiveInt, strictObject } from './fields.ts';
import { show } from './show.ts';

export const scalingSchema = strictObject({
  mode: z
    .enum(['auto', 'external'], { error: (iss) => `expected auto or external, got ${show(iss.input)}` })
    .default('auto')
    .describe(
      '`auto`: the operator picks replicas from lag and input rate. `external`: replicas come from `spec.replicas` (kubectl scale, an HPA).',
    ),
  minReplicas: positiveInt('minReplicas', 1000).default(1).describe('Fewest replicas in auto mode.'),
  maxReplicas: positiveInt('maxReplicas', 1000)
    .default(10)
    .describe(
      'Most replicas in auto mode. The operator never runs more replicas than the source has partitions.',
    ),
  lagThreshold: positiveInt('lagThreshold', 1_000_000_000)
    .default(5000)
    .describe('Records of consumer lag per replica above which the operator scales out.'),
  targetRecordsPerReplica: z
    .number({ error: (iss) => `expected records per second (a number), got ${show(iss.input)}` })
    .positive({ error: (iss) => `targetRecordsPerReplica must be more than 0, got ${show(iss.input)}` })
    .optional()
    .describe(
      'Input rate (records/second) one replica should handle; when set, replicas also follow the input rate.',
    ),
  catchUpSeconds: positiveInt('catchUpSeconds', 86_400)
    .default(300)
    .describe('When lagging, scale so the backlog drains within this many seconds.'),
  scaleDownStabilization: duration(0)
    .default('5m')
    .describe('Scale in only after the lower replica count has been enough for this long (avoids flapping).'),
})
  .superRefine((s, ctx) => {
    if (s.maxReplicas < s.minReplicas) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxReplicas'],
        message: `maxReplicas (${s.maxReplicas}) must be at least minReplicas (${s.minReplicas})`,
      });
    }
  })
  .meta(
    k8sRules({
      rule: 'self.maxReplicas >= self.minReplicas',
      message: 'maxReplicas must be at least minReplicas',
      fieldPath: '.maxReplicas',
    }),
  )
  .describe('Replica bounds and autoscaling targets.');
