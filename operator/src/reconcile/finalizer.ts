// The finalizer step: added before anything is created; on delete it stops the processors, runs
// the deletion policy, then lets the Pipeline go.
import { validatePipelineObject } from '../../../processor/src/spec/validate.ts';
import { deleteConsumerGroups, deleteRedisState, parsePolicy } from '../cleanup.ts';
import { withTimeout } from '../inputs.ts';
import { paths } from '../kube/client.ts';
import {
  childName,
  DELETION_POLICY_ANNOTATION,
  FINALIZER,
  type PipelineObject,
  selectorString,
} from '../resources.ts';
import type { ReconcileContext, ReconcileResult } from './context.ts';
import { kafkaError, kafkaFor } from './kafka-for.ts';
import { redisFor } from './redis-for.ts';

/** Adds the finalizer when missing; true when it did (the update comes back through the watch). */
export async function ensureFinalizer(ctx: ReconcileContext, p: PipelineObject): Promise<boolean> {
  if ((p.metadata.finalizers ?? []).includes(FINALIZER)) return false;
  await ctx.client.mergePatch(paths.pipeline(p.metadata.namespace ?? 'default', p.metadata.name), {
    metadata: {
      finalizers: [...(p.metadata.finalizers ?? []), FINALIZER],
      resourceVersion: p.metadata.resourceVersion,
    },
  });
  return true;
}

/** The finalizer: stop processors, run the deletion policy, then let the Pipeline go. */
export async function finalize(ctx: ReconcileContext, p: PipelineObject): Promise<ReconcileResult> {
  const ns = p.metadata.namespace ?? 'default';
  const name = p.metadata.name;
  const finalizers = p.metadata.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return {};
  const policy = parsePolicy(p.metadata.annotations?.[DELETION_POLICY_ANNOTATION], ctx.config.deletionPolicy);
  if (policy === 'delete') {
    // Processors must be gone first, or they would write keys back and keep the group alive.
    // Every version's Deployment, and the single one of the release before versioned Deployments.
    const names = new Set([childName(name), ...ctx.listDeployments(ns, name).map((d) => d.metadata.name)]);
    for (const d of names)
      await ctx.client.delete(paths.deployment(ns, d), { propagationPolicy: 'Foreground' });
    const pods = await ctx.client.list(paths.pods(ns), { labelSelector: selectorString(name) });
    if (pods.items.length > 0) return { requeueAfterMs: 1000 };
    const validation = validatePipelineObject(p);
    const n = validation.ok ? validation.normalized : undefined;
    // A namespace being deleted takes the Pipeline's Secrets with it: then the operator's own
    // settings are tried rather than waiting for a Secret that will not come back.
    const kafka = await kafkaFor(ctx, p, n, { anyUnreadableSecret: true });
    let groups: string[];
    try {
      // Connecting is inside: a failed connection also drops the cached admin, as in the measure step.
      groups = await deleteConsumerGroups(await kafka.admin(), name);
    } catch (e) {
      await kafka.reset();
      throw new Error(`deleting consumer groups: ${kafkaError(kafka, e)}`);
    }
    const redis = n ? await redisFor(ctx, p, n) : ctx.redis.get(ctx.config.redisUrl);
    const removed = await withTimeout(deleteRedisState(redis, name), 60_000, 'deleting Redis keys');
    await ctx.events.record(
      p,
      'Normal',
      'Cleaned',
      `deletion policy delete: removed ${removed} Redis keys and consumer group(s) ${groups.join(', ') || '(none)'}`,
    );
  } else {
    await ctx.events.record(
      p,
      'Normal',
      'Retained',
      'deletion policy retain: Redis keys and consumer groups kept',
    );
  }
  await ctx.client.mergePatch(paths.pipeline(ns, name), {
    metadata: {
      finalizers: finalizers.filter((f) => f !== FINALIZER),
      resourceVersion: p.metadata.resourceVersion,
    },
  });
  ctx.log('info', 'finalized', { pipeline: `${ns}/${name}`, policy });
  return {};
}
