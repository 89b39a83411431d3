import type { RedisClient } from '../../../processor/src/state/connection.ts';

/**
 * A Redis client for the owner's one read of its windows (OwnedWindows.load): a pipeline whose
 * HGETALLs are answered by `hashOf(key)`. Unit tests of the owner's staging rules use it; the
 * integration tests run the same code against a real Redis.
 */
export const answeringHgetall = (hashOf: (key: string) => Record<string, string>) =>
  ({
    pipeline() {
      const replies: [null, Record<string, string>][] = [];
      const pipe = {
        hgetall: (key: string) => {
          replies.push([null, hashOf(key)]);
          return pipe;
        },
        exec: async () => replies,
      };
      return pipe;
    },
  }) as unknown as RedisClient;
