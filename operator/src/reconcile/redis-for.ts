// The Redis a Pipeline's processors write: spec.redis (with its Secret's password) or the operator's.
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import type { RedisClient } from '../../../processor/src/state/connection.ts';
import { type KubeObject, paths } from '../kube/client.ts';
import type { PipelineObject } from '../resources.ts';
import type { ReconcileContext } from './context.ts';

export async function redisFor(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline,
): Promise<RedisClient> {
  const r = n.redis;
  let url = ctx.config.redisUrl;
  if (r?.url) url = r.cluster ? r.url.replace(/^rediss?:\/\//, 'redis-cluster://') : r.url;
  let password: string | undefined;
  if (r?.secretRef) {
    const secret = await ctx.client.get<KubeObject & { data?: Record<string, string> }>(
      paths.secret(p.metadata.namespace ?? 'default', r.secretRef.name),
    );
    const b64 = secret.data?.[r.secretRef.passwordKey ?? 'password'];
    if (b64) password = Buffer.from(b64, 'base64').toString('utf8');
  }
  return ctx.redis.get(url, password);
}
