import type { Message, Producer } from 'kafkajs';
import { type AggregateAcc, type FieldPart, KINDS } from '../aggregates/kinds.ts';
import type { RuntimePipeline } from '../model/pipeline.ts';
import { crashPoint } from '../observability/fault-points.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, parseField } from '../state/keys.ts';
import { jsonSinkEncoder, type SinkEncoder } from './sink-avro.ts';

// Sketch aggregates are not published: their partials need the sketch, not a number, to merge.

/** The outbox entries waiting to be published, and the sequence number of the first (see trimOutbox-2.lua). */
export interface OutboxPage {
  head: bigint;
  starts: string[];
}

/** Reads up to `max` entries from the head of a partition's outbox, with the head's sequence number. */
export async function readOutbox(redis: RedisClient, prefix: string, max = 100): Promise<OutboxPage> {
  // One MULTI: a trim by another replica cannot fall between the two reads.
  const replies = (await redis
    .multi()
    .get(keys.outboxTrimmed(prefix))
    .lrange(keys.outbox(prefix), 0, max - 1)
    .exec()) as [Error | null, unknown][] | null;
  if (!replies) throw new Error('reading the sink outbox was aborted; it is retried with the next batch');
  for (const [error] of replies) if (error) throw error;
  return { head: BigInt((replies[0]![1] as string | null) ?? '0'), starts: replies[1]![1] as string[] };
}

/** Drops the outbox entries before sequence number `upTo` (idempotent, never goes back). */
export async function trimOutbox(redis: RedisClient, prefix: string, upTo: bigint): Promise<void> {
  await redis.trimOutbox(keys.outbox(prefix), keys.outboxTrimmed(prefix), String(upTo));
}

/**
 * Publishes closed windows to the sink topic from the partition's outbox. The commit script queues a
 * window there in the same atomic step that closes it, so a crash between commit and publish only
 * delays the record: the next owner of the partition publishes it (at least once; consumers dedupe
 * on the key plus the kf-window-start and kf-partition headers). With `sink.delivery: exactlyOnce`
 * sink-transactions.ts publishes instead.
 */
export async function publishClosedWindows(
  redis: RedisClient,
  producer: Producer,
  pipeline: RuntimePipeline,
  prefix: string,
  partitionId: string,
  encode: SinkEncoder = jsonSinkEncoder,
): Promise<number> {
  const sinkTopic = pipeline.sinkTopic;
  if (!sinkTopic) return 0;
  let published = 0;
  for (;;) {
    const { head, starts } = await readOutbox(redis, prefix);
    if (starts.length === 0) return published;
    const messages = await sinkMessages(redis, pipeline, prefix, partitionId, starts, encode, head);
    if (messages.length > 0) await producer.send({ topic: sinkTopic, acks: -1, messages });
    crashPoint('sink-sent');
    await trimOutbox(redis, prefix, head + BigInt(starts.length));
    published += starts.length;
  }
}

/**
 * The sink records of closed windows: per window, this partition's partial aggregate of each group.
 * A downstream stage merges partitions by adding counts and sums, and taking min/max/first/last,
 * exactly as the query API does.
 */
export async function sinkMessages(
  redis: RedisClient,
  pipeline: RuntimePipeline,
  prefix: string,
  partitionId: string,
  starts: string[],
  encode: SinkEncoder = jsonSinkEncoder,
  /** the outbox sequence number of starts[0], sent as header kf-outbox-seq (tells a re-publish from a duplicate) */
  firstSeq?: bigint,
): Promise<Message[]> {
  // A window's state is its hash, plus its slices for hopping windows kept per slice.
  const window = pipeline.window;
  const sliceMs = window.type === 'hopping' ? window.sliceMs : undefined;
  const hashesOf = (start: number) => {
    // slices first, as the query API merges them (see partsOf in query/store.ts)
    const list: string[] = [];
    if (sliceMs && window.type === 'hopping')
      for (let t = start; t < start + window.sizeMs; t += sliceMs) list.push(keys.slice(prefix, t));
    list.push(keys.window(prefix, start));
    return list;
  };
  const read = redis.pipeline();
  const perWindow = starts.map((start) => hashesOf(Number(start)));
  for (const list of perWindow) for (const key of list) read.hgetall(key);
  const replies = (await read.exec()) ?? [];
  const shapes = new Map(pipeline.aggregates.map((a) => [a.name, a]));
  let next = 0;
  return starts.flatMap((start, i) => {
    // per group, per aggregate: the merged partial of the window's hashes
    const groups = new Map<string, Map<string, AggregateAcc>>();
    const ends = new Map<string, number>();
    for (let h = 0; h < perWindow[i]!.length; h++) {
      const [error, hash] = replies[next++] ?? [null, {}];
      if (error) throw error;
      // this hash's field values per (group, aggregate), in the kind's form order
      const tuples = new Map<string, { group: string; name: string; values: (string | null)[] }>();
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const { aggregate, part, group } = parseField(field);
        if (aggregate === '@end') {
          ends.set(group, Number(value));
          continue;
        }
        const shape = shapes.get(aggregate);
        const form = shape && KINDS[shape.kind].form;
        if (form?.type !== 'fields') continue;
        const at = form.parts.indexOf((part ?? '') as FieldPart);
        if (at === -1) continue;
        const key = `${aggregate}|${group}`;
        let tuple = tuples.get(key);
        if (!tuple) {
          tuple = { group, name: aggregate, values: form.parts.map(() => null) };
          tuples.set(key, tuple);
        }
        tuple.values[at] = value;
      }
      for (const { group, name, values } of tuples.values()) {
        let accs = groups.get(group);
        if (!accs) {
          accs = new Map();
          groups.set(group, accs);
        }
        let acc = accs.get(name);
        if (!acc) {
          acc = {};
          accs.set(name, acc);
        }
        KINDS[shapes.get(name)!.kind].mergeFields!(acc, values);
      }
    }
    const published = [...groups].map(([group, accs]) => {
      const values: Record<string, unknown> = {};
      for (const [name, acc] of accs)
        values[name] = KINDS[shapes.get(name)!.kind].output(shapes.get(name)!, acc);
      return [group, values] as const;
    });
    const windowStart = Number(start);
    return published.map(([group, values]) => {
      const names = JSON.parse(group) as unknown[];
      const end =
        window.type === 'session'
          ? (ends.get(group) ?? windowStart) + window.gapMs
          : windowStart + window.sizeMs;
      return {
        key: group,
        value: encode({
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
          ...(firstSeq === undefined ? {} : { 'kf-outbox-seq': String(firstSeq + BigInt(i)) }),
        },
      };
    });
  });
}
