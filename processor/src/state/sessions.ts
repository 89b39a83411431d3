import type { SessionStore, StoredSession } from '../windows/session-folder.ts';
import type { RedisClient } from './connection.ts';
import { keys } from './keys.ts';

/** The stored sessions of one partition, read with one pipelined round trip per batch. */
export function redisSessionStore(redis: RedisClient, prefix: string): SessionStore {
  return {
    async load(groups, from) {
      const result = new Map<string, StoredSession[]>();
      if (groups.length === 0) return result;
      const pipeline = redis.pipeline();
      for (const group of groups)
        pipeline.zrangebyscore(keys.sessions(prefix, group), from, '+inf', 'WITHSCORES');
      const replies = (await pipeline.exec()) ?? [];
      groups.forEach((group, i) => {
        const [error, flat] = replies[i] ?? [null, []];
        if (error) throw error;
        const list = flat as string[];
        const sessions: StoredSession[] = [];
        for (let j = 0; j < list.length; j += 2)
          sessions.push({ start: Number(list[j]), end: Number(list[j + 1]) });
        if (sessions.length > 0) result.set(group, sessions);
      });
      return result;
    },
  };
}
