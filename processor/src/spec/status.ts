// `status` of a Pipeline, written by the operator. Declared here so the CRD, the operator's
// types and the docs agree.
import { z } from 'zod';

export const conditionSchema = z
  .object({
    type: z
      .string()
      .max(316)
      .describe(
        'Condition type: `Ready`, `Progressing` (a rollout), `Degraded`, `Scaling`, `Reprocessing` (a new version catching up or waiting for promotion).',
      ),
    status: z.enum(['True', 'False', 'Unknown']),
    reason: z.string().max(1024).optional().describe('CamelCase reason, e.g. `CatchingUp`, `InvalidSpec`.'),
    message: z
      .string()
      .max(32768)
      .optional()
      .describe('Human-readable details (for SpecValid=False: every spec error, one per line).'),
    lastTransitionTime: z.string().optional().describe('RFC 3339 time of the last status change.'),
    observedGeneration: z.number().int().min(0).optional(),
  })
  .describe('Standard Kubernetes condition.');

export const pipelineStatusSchema = z
  .object({
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The metadata.generation this status describes.'),
    replicas: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Processor replicas currently running (the scale subresource reads it).'),
    selector: z
      .string()
      .optional()
      .describe('Label selector of the processor pods (for the scale subresource and HPAs).'),
    activeVersion: z.number().int().min(0).optional().describe('Version whose results the query API serves.'),
    latestVersion: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Newest version; differs from activeVersion while a replay catches up.'),
    lag: z.number().int().min(0).optional().describe('Total consumer lag of the active version, in records.'),
    inputRate: z
      .number()
      .min(0)
      .optional()
      .describe('Records per second read from the source topics (recent average).'),
    watermark: z.string().optional().describe('Lowest partition watermark of the active version (RFC 3339).'),
    hotPartitions: z
      .array(
        z.object({
          topic: z.string().max(249).optional().describe('The source topic of the partition.'),
          partition: z.number().int().min(0),
          lag: z.number().int().min(0).optional(),
          recordsPerSecond: z.number().min(0).optional(),
        }),
      )
      .max(32)
      .optional()
      .describe('Partitions with the most lag or traffic (a skewed key shows up here).'),
    versions: z
      .array(
        z.object({
          version: z.number().int().min(1),
          role: z
            .enum(['active', 'replaying'])
            .describe(
              '`active`: the version queries read. `replaying`: a newer version replaying the log beside it.',
            ),
          replicas: z.number().int().min(0).optional().describe('Processors of this version running.'),
          lag: z
            .number()
            .int()
            .min(0)
            .optional()
            .describe("Records behind the end of the log (this version's consumer group)."),
          recordsPerSecond: z
            .number()
            .min(0)
            .optional()
            .describe('Records per second its processors handle (heartbeats).'),
          etaSeconds: z
            .number()
            .int()
            .min(0)
            .optional()
            .describe(
              'Replaying only: seconds until caught up at the current pace (lag / (rate - input rate)); absent while it does not gain.',
            ),
          startedAt: z.string().optional().describe('When its Deployment was created (RFC 3339).'),
        }),
      )
      .max(4)
      .optional()
      .describe('Every version with processors: the active one and, during a replay, the replaying one.'),
    conditions: z.array(conditionSchema).max(16).optional(),
  })
  .describe('Observed state, written by the operator.');

export type PipelineStatus = z.infer<typeof pipelineStatusSchema>;
export type PipelineCondition = z.infer<typeof conditionSchema>;
