// `spec.reprocessing`: how a new version (a logic change or a replay) takes over from the active one.
import { z } from 'zod';
import { positiveInt, strictObject } from './fields.ts';
import { show } from './show.ts';

const fraction = (iss: { input?: unknown }) =>
  `expected a fraction between 0 and 1 (e.g. 0.01 for 1%), got ${show(iss.input)}`;

export const reprocessingSchema = strictObject({
  promotion: z
    .enum(['auto', 'manual'], { error: (iss) => `expected auto or manual, got ${show(iss.input)}` })
    .default('auto')
    .describe(
      '`auto`: a new version takes over as soon as it has caught up (near the end of the log and, on every partition, at or past the active version\'s checkpoint). `manual`: it keeps replaying and following the log beside the active version until the annotation `kappaflow.io/promote` names it (e.g. `kappaflow.io/promote: "3"`), so its answers can be compared first (`?version=3`).',
    ),
  maxRestarts: positiveInt('maxRestarts', 1000)
    .default(3)
    .describe(
      'A replaying version whose processors restarted more than this many times (a crash loop) is not promoted and the Pipeline reports Degraded (reason ReplayFailing); the active version is not touched.',
    ),
  maxDeadLetterRatio: z
    .number({ error: fraction })
    .min(0, { error: fraction })
    .max(1, { error: fraction })
    .optional()
    .describe(
      "A replaying version that dead-lettered more than this fraction of the records it consumed (dead-lettered / (applied + dead-lettered), summed over its partitions' checkpoints) is not promoted and the Pipeline reports Degraded (reason ReplayFailing); the active version is not touched. Checked on every reconcile, so the hold lifts if the fraction falls back. Absent: no limit.",
    ),
}).describe(
  'How a new version replaying the log (Kappa reprocessing) takes over. Not part of the logic: changing it starts no replay.',
);
