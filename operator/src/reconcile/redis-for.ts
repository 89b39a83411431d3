// The Redis a Pipeline's processors write: spec.redis (with its Secret's password and ACL username)
// or the operator's.
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import type { RedisClient } from '../../../processor/src/state/connection.ts';
import { type KubeObject, paths } from '../kube/client.ts';
import { type PipelineObject, pipelineRedisUrl } from '../resources.ts';
import type { ReconcileContext } from './context.ts';

export async function redisFor(
  ctx: ReconcileContext,
  p: PipelineObject,
  n: NormalizedPipeline,
): Promise<RedisClient> {
  const r = n.redis;
  const url = pipelineRedisUrl(r, ctx.config.redisUrl);
  let password: string | undefined;
  let username: string | undefined;
  if (r?.secretRef) {
    const secret = await ctx.client.get<KubeObject & { data?: Record<string, string> }>(
      paths.secret(p.metadata.namespace ?? 'default', r.secretRef.name),
    );
    const read = (key: string) => {
      const b64 = secret.data?.[key];
      return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
    };
    password = read(r.secretRef.passwordKey ?? 'password');
    if (r.secretRef.usernameKey) username = read(r.secretRef.usernameKey);
  }
  return ctx.redis.get(url, password, username);
}
