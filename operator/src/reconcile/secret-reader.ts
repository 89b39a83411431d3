// Reading values out of the Secrets a Pipeline names (its namespace), for the operator's own
// connections to that Pipeline's Kafka and Redis. Each Secret is fetched once per reader.
import { type KubeObject, paths } from '../kube/client.ts';
import type { PipelineObject } from '../resources.ts';
import type { ReconcileContext } from './context.ts';

type SecretObject = KubeObject & { data?: Record<string, string> };

/** a key's text; undefined when the Secret has no such key */
export type SecretReader = (name: string, key: string) => Promise<string | undefined>;

export function secretReader(ctx: ReconcileContext, p: PipelineObject): SecretReader {
  const ns = p.metadata.namespace ?? 'default';
  const secrets = new Map<string, Promise<SecretObject>>();
  return async (name, key) => {
    let secret = secrets.get(name);
    if (!secret) {
      secret = ctx.client.get<SecretObject>(paths.secret(ns, name));
      secrets.set(name, secret);
    }
    const b64 = (await secret).data?.[key];
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  };
}
