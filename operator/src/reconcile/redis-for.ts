// The Redis a Pipeline's processors write: spec.redis (with its Secret's password and ACL username)
// or the operator's.
import type { NormalizedPipeline } from '../../../processor/src/spec/normalize.ts';
import type { RedisClient } from '../../../processor/src/state/connection.ts';
import { type PipelineObject, pipelineRedisUrl } from '../resources.ts';
import type { ReconcileContext } from './context.ts';
import { secretReader } from './secret-reader.ts';

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
    const read = secretReader(ctx, p);
    password = (await read(r.secretRef.name, r.secretRef.passwordKey ?? 'password')) || undefined;
    if (r.secretRef.usernameKey)
      username = (await read(r.secretRef.name, r.secretRef.usernameKey)) || undefined;
  }
  return ctx.redis.get(url, password, username);
}
