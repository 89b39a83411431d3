import type { Producer } from 'kafkajs';
import { type AggregateAcc, type FieldPart, KINDS } from '../aggregates/kinds.ts';
import type { RuntimePipeline } from '../model/pipeline.ts';
import type { RedisClient } from '../state/connection.ts';
import { keys, parseField } from '../state/keys.ts';
import { jsonSinkEncoder, type SinkEncoder } from './sink-avro.ts';

// Sketch aggregates are not published: their partials need the sketch, not a number, to merge.

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
  encode: SinkEncoder = jsonSinkEncoder,
): Promise<number> {
  const sinkTopic = pipeline.sinkTopic;
  if (!sinkTopic) return 0;
  const starts = await redis.lrange(keys.outbox(prefix), 0, 99);
  if (starts.length === 0) return 0;
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
  const messages = starts.flatMap((start, i) => {
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
        },
      };
    });
  });
  if (messages.length > 0) await producer.send({ topic: sinkTopic, acks: -1, messages });
  await redis.ltrim(keys.outbox(prefix), starts.length, -1);
  return starts.length;
}
