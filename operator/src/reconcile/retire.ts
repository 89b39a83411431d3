// Removing a version (blue/green): one that was promoted away, a replay aborted by reverting the
// spec, or a replay a newer version replaces. Level-triggered and safe to interrupt: the
// Deployment is scaled to 0 and marked first; only when none of the version's pods is left are its
// consumer groups and Redis keys deleted (a pod still running would write them back), then the
// Deployment and ConfigMap. A standby taking over mid-way finds the mark and finishes the job.
import {
  consumerGroupOf,
  repartitionGroupOf,
  sinkGroupOf,
} from '../../../processor/src/model/kafka-names.ts';
import type { RedisClient } from '../../../processor/src/state/connection.ts';
import { keys } from '../../../processor/src/state/keys.ts';
import { pendingRegistration, retireVersion } from '../../../processor/src/state/versions.ts';
import { withTimeout } from '../inputs.ts';
import { paths } from '../kube/client.ts';
import {
  childName,
  type PipelineObject,
  RETIRE_ANNOTATION,
  selectorString,
  VERSION_LABEL,
  versionName,
} from '../resources.ts';
import type { DeploymentObject, ReconcileContext } from './context.ts';
import { kafkaError, type PipelineKafka } from './kafka-for.ts';

export type RetireReason = 'promoted' | 'reverted' | 'superseded';

/** true when the version is gone (nothing left to do), false while its pods are still stopping. */
export async function retireStep(
  ctx: ReconcileContext,
  p: PipelineObject,
  version: number,
  why: RetireReason,
  deployments: DeploymentObject[],
  redis: () => Promise<RedisClient>,
  kafka: () => Promise<PipelineKafka>,
): Promise<boolean> {
  const ns = p.metadata.namespace ?? 'default';
  const name = p.metadata.name;
  for (const d of deployments) {
    if (d.spec?.replicas === 0 && d.metadata.annotations?.[RETIRE_ANNOTATION]) continue;
    await ctx.client.mergePatch(paths.deployment(ns, d.metadata.name), {
      metadata: { annotations: { [RETIRE_ANNOTATION]: why } },
      spec: { replicas: 0 },
    });
  }
  const pods = await ctx.client.list(paths.pods(ns), {
    labelSelector: `${selectorString(name)},${VERSION_LABEL}=${version}`,
  });
  if (pods.items.length > 0) return false;

  const group = consumerGroupOf(name, version);
  const pipelineKafka = await kafka();
  try {
    const admin = await pipelineKafka.admin();
    const { groups } = await admin.listGroups();
    const ids = groups
      .map((g) => g.groupId)
      .filter(
        (g) => g === group || g === repartitionGroupOf(name, version) || g === sinkGroupOf(name, version),
      );
    if (ids.length > 0) await admin.deleteGroups(ids);
  } catch (e) {
    await pipelineKafka.reset();
    throw new Error(`retiring version ${version}: ${kafkaError(pipelineKafka, e)}`);
  }
  const r = await redis();
  const removed = await withTimeout(retireVersion(r, name, version), 60_000, 'deleting Redis keys');
  if ((await pendingRegistration(r, name))?.activeVersion === version) {
    await r.hdel(keys.pipelines(), `${name}@pending`);
  }
  for (const d of deployments) await ctx.client.delete(paths.deployment(ns, d.metadata.name));
  await ctx.client.delete(paths.configMap(ns, versionName(name, version)));
  if (deployments.some((d) => d.metadata.name === childName(name))) {
    await ctx.client.delete(paths.configMap(ns, childName(name)));
  }
  const what = `version ${version}: its Deployment, consumer group ${group} and ${removed} Redis keys are deleted`;
  if (why === 'promoted')
    await ctx.events.record(p, 'Normal', 'VersionRetired', `${what} (a newer version serves queries)`);
  else if (why === 'reverted')
    await ctx.events.record(
      p,
      'Normal',
      'ReplayAborted',
      `the spec was reverted to the active version's logic: ${what}`,
    );
  else await ctx.events.record(p, 'Normal', 'ReplayReplaced', `a newer version replaces the replay: ${what}`);
  return true;
}
