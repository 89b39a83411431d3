import type { Producer } from 'kafkajs';
import { KIND_NAMES, KINDS } from '../aggregates/kinds.ts';
import type { RuntimePipeline } from '../runtime/pipeline.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, parseField } from '../state/keys.ts';

/** Sketch aggregates are not published: their partials need the sketch, not a number, to merge. */
const PUBLISHED = new Set(KIND_NAMES.filter((name) => KINDS[name].form.type === 'fields'));

/**
 * Publishes closed windows to the sink topic from the partition's outbox. The commit script queues a
 * window there in the same atomic step that closes it, so a crash between commit and publish only
 * delays the record: the next owner of the partition publishes it (at least once; consumers dedupe
 * on the key plus the kf-window-start and kf-partition headers). Each record is this partition's
 * partial aggregate of one group: a downstream stage merges partitions by adding counts and sums,
 * and taking min/max/first/last, exactly as the query API does.
 */
export async function publishClosedWindows(
  redis: RedisClient,
  producer: Producer,
  pipeline: RuntimePipeline,
  prefix: string,
  partitionId: string,
): Promise<number> {
  const sinkTopic = pipeline.sinkTopic;
  if (!sinkTopic) return 0;
  const starts = await redis.lrange(keys.outbox(prefix), 0, 99);
  if (starts.length === 0) return 0;
  const read = redis.pipeline();
  for (const start of starts) read.hgetall(keys.window(prefix, Number(start)));
  const hashes = (await read.exec()) ?? [];
  const kinds = new Map(pipeline.aggregates.map((a) => [a.name, a.kind]));
  const messages = starts.flatMap((start, i) => {
    const [error, hash] = hashes[i] ?? [null, {}];
    if (error) throw error;
    const groups = new Map<string, Record<string, unknown>>();
    const ends = new Map<string, number>();
    const avg = new Map<string, { s: number; n: number }>();
    for (const [field, value] of Object.entries(hash as Record<string, string>)) {
      const { aggregate, part, group } = parseField(field);
      if (aggregate === '@end') {
        ends.set(group, Number(value));
        continue;
      }
      const kind = kinds.get(aggregate);
      if (!kind || !PUBLISHED.has(kind) || part === 't') continue;
      const values = groups.get(group) ?? {};
      groups.set(group, values);
      if (kind === 'avg') {
        const acc = avg.get(`${aggregate}|${group}`) ?? { s: 0, n: 0 };
        if (part === 's') acc.s = Number(value);
        if (part === 'n') acc.n = Number(value);
        avg.set(`${aggregate}|${group}`, acc);
        values[aggregate] = acc.n > 0 ? acc.s / acc.n : null;
      } else {
        values[aggregate] = kind === 'first' || kind === 'last' ? value : Number(value);
      }
    }
    const windowStart = Number(start);
    return [...groups].map(([group, values]) => {
      const names = JSON.parse(group) as unknown[];
      const window = pipeline.window;
      const end =
        window.type === 'session'
          ? (ends.get(group) ?? windowStart) + window.gapMs
          : windowStart + window.sizeMs;
      return {
        key: group,
        value: JSON.stringify({
          pipeline: pipeline.name,
          window: { start: windowStart, end },
          partition: partitionId,
          group: Object.fromEntries(pipeline.groupNames.map((name, j) => [name, names[j]])),
          values,
        }),
        headers: {
          'kf-pipeline': pipeline.name,
          'kf-window-start': String(windowStart),
          'kf-partition': partitionId,
          'kf-partial': 'true',
        },
      };
    });
  });
  if (messages.length > 0) await producer.send({ topic: sinkTopic, acks: -1, messages });
  await redis.ltrim(keys.outbox(prefix), starts.length, -1);
  return starts.length;
}
