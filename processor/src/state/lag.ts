// Lag from the truth: how many records of each partition are not in Redis yet, i.e. the topic's end
// offset minus the partition's Redis checkpoint (the next offset to apply). Kafka's group offsets
// follow Redis asynchronously and heartbeats only cover replicas that fetched, so neither is used.
// The query API and the operator both read it here, so the dashboard's LAG card and the
// autoscaler see the same number.
import type { Admin, Kafka } from 'kafkajs';
import { repartitionGroupOf, repartitionTopicOf } from '../model/kafka-names.ts';
import type { RedisClient } from './connection.ts';
import { keys, partitionPrefix } from './keys.ts';
import type { PipelineRegistration } from './registry.ts';

export interface LagSource {
  pipeline: string;
  version: number;
  /** the topics whose partitions have Redis checkpoints (session windows: the repartition topic) */
  topics: string[];
  /** a partition without a checkpoint: all of its retained log is lag (`earliest`) or none (`latest`) */
  startFrom: 'earliest' | 'latest';
  /** session windows: records the repartitioner has not forwarded yet count too (its group's offsets) */
  repartition?: { groupId: string; topics: string[] };
}

export interface PartitionLag {
  /** partition id as in Redis keys: "<n>", or "<topicIndex>.<n>" with several topics */
  id: string;
  topic: string;
  partition: number;
  end: number;
  /** the Redis checkpoint (next offset to apply); null before the partition's first commit */
  checkpoint: number | null;
  lag: number;
  /** the checkpoint's counts since the version started: records applied and records dead-lettered */
  records: number;
  deadLettered: number;
}

export interface LagReading {
  at: number;
  partitions: PartitionLag[];
  /** records not yet forwarded by the repartitioner (session windows), in totalLag too */
  repartitionLag: number;
  totalLag: number;
  /** sum of end offsets: its growth over time is the input rate */
  endSum: number;
}

/**
 * What to read for a pipeline version: its source topics, or for session windows the repartition
 * topic (where the checkpoints are) plus the repartitioner's own lag on the source topics.
 */
export function lagSourceOf(pipeline: {
  name: string;
  version: number;
  topics: string[];
  startFrom: 'earliest' | 'latest';
  session: boolean;
}): LagSource {
  const { name, version } = pipeline;
  if (!pipeline.session)
    return { pipeline: name, version, topics: pipeline.topics, startFrom: pipeline.startFrom };
  return {
    pipeline: name,
    version,
    topics: [repartitionTopicOf(name, version)],
    startFrom: 'earliest',
    repartition: { groupId: repartitionGroupOf(name, version), topics: pipeline.topics },
  };
}

/** The lag source of a registration's active version (registrations before `source` existed: its topics, from the earliest). */
export function lagSourceOfRegistration(reg: PipelineRegistration): LagSource {
  if (!reg.source)
    return { pipeline: reg.name, version: reg.activeVersion, topics: reg.topics, startFrom: 'earliest' };
  return lagSourceOf({
    name: reg.name,
    version: reg.activeVersion,
    topics: reg.source.topics,
    startFrom: reg.source.startFrom,
    session: reg.window.type === 'session',
  });
}

export async function readLag(
  admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>,
  redis: RedisClient,
  source: LagSource,
): Promise<LagReading> {
  // The repartitioner's offsets before the repartition topic's ends: a record moving between the two
  // while this runs is counted in one of them, never in neither.
  let repartitionLag = 0;
  if (source.repartition) {
    const { groupId, topics } = source.repartition;
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const group = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const c = Number(group.find((g) => g.partition === p.partition)?.offset ?? -1);
        repartitionLag += Math.max(0, Number(p.high) - (c >= 0 ? c : Number(p.low)));
      }
    }
  }
  const partitions: PartitionLag[] = [];
  let endSum = 0;
  for (const [index, topic] of source.topics.entries()) {
    const ends = await admin.fetchTopicOffsets(topic);
    const ids = ends.map((p) =>
      source.topics.length === 1 ? String(p.partition) : `${index}.${p.partition}`,
    );
    const pipe = redis.pipeline();
    for (const id of ids)
      pipe.hmget(
        keys.checkpoint(partitionPrefix(source.pipeline, source.version, id)),
        'offset',
        'records',
        'deadLettered',
      );
    const replies = (await pipe.exec()) ?? [];
    ends.forEach((p, i) => {
      const [error, reply] = replies[i] ?? [null, null];
      if (error) throw error;
      const [stored, records, deadLettered] = (reply ?? []) as (string | null)[];
      const end = Number(p.high);
      const checkpoint = stored === null || stored === undefined ? null : Number(stored);
      const from = checkpoint ?? (source.startFrom === 'earliest' ? Number(p.low) : end);
      endSum += end;
      partitions.push({
        id: ids[i]!,
        topic,
        partition: p.partition,
        end,
        checkpoint,
        lag: Math.max(0, end - from),
        records: Number(records ?? 0),
        deadLettered: Number(deadLettered ?? 0),
      });
    });
  }
  partitions.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  const totalLag = partitions.reduce((sum, p) => sum + p.lag, repartitionLag);
  return { at: Date.now(), partitions, repartitionLag, totalLag, endSum };
}

/**
 * Readings kept for `ttlMs` per pipeline version, and one read at a time per key, so a dashboard
 * polling many times a second costs Kafka one ListOffsets every second or two.
 */
export class CachedLag {
  private readonly readings = new Map<string, { at: number; reading: Promise<LagReading> }>();

  constructor(
    private readonly read: (source: LagSource) => Promise<LagReading>,
    private readonly ttlMs = 1500,
  ) {}

  get(source: LagSource): Promise<LagReading> {
    const key = `${source.pipeline}\n${source.version}\n${source.topics.join(',')}`;
    const cached = this.readings.get(key);
    if (cached && Date.now() - cached.at < this.ttlMs) return cached.reading;
    const reading = this.read(source);
    this.readings.set(key, { at: Date.now(), reading });
    // A failed read is not kept: the next caller tries again.
    reading.catch(() => {
      if (this.readings.get(key)?.reading === reading) this.readings.delete(key);
    });
    return reading;
  }
}

/**
 * The query API's lag per registration: one Kafka admin shared by concurrent readings, and readings
 * cached by CachedLag. A reading that fails retires the admin for the readings that start after it,
 * but it is disconnected only once the readings already using it are done (disconnecting it under
 * them made every concurrent reading fail too, and the next ones, on a busy query server).
 * Registrations whose topics are gone (a deleted pipeline's leftovers) are answered from a cached
 * topic list instead of waiting out kafkajs's retries on an unknown topic.
 */
export function registrationLag(kafka: Kafka, redis: RedisClient, ttlMs = 1500) {
  interface Lease {
    admin: Promise<Admin>;
    users: number;
    retired: boolean;
  }
  let current: Lease | undefined;
  const release = (lease: Lease) => {
    if (lease.retired && lease.users === 0) void lease.admin.then((a) => a.disconnect()).catch(() => {});
  };
  const retire = (lease: Lease) => {
    lease.retired = true;
    if (current === lease) current = undefined;
    release(lease);
  };
  const withAdmin = async <T>(use: (admin: Admin) => Promise<T>): Promise<T> => {
    current ??= {
      admin: (async () => {
        const client = kafka.admin();
        await client.connect();
        return client;
      })(),
      users: 0,
      retired: false,
    };
    const lease = current;
    lease.users += 1;
    try {
      return await use(await lease.admin);
    } catch (error) {
      if (!(error instanceof MissingTopicError)) retire(lease);
      throw error;
    } finally {
      lease.users -= 1;
      release(lease);
    }
  };
  let topicList: { at: number; topics: Promise<Set<string>> } | undefined;
  const existingTopics = (admin: Admin) => {
    if (!topicList || Date.now() - topicList.at >= ttlMs) {
      const topics = admin.listTopics().then((names) => new Set(names));
      topicList = { at: Date.now(), topics };
      topics.catch(() => {
        if (topicList?.topics === topics) topicList = undefined;
      });
    }
    return topicList.topics;
  };
  const cache = new CachedLag(
    (source) =>
      withAdmin(async (admin) => {
        const topics = await existingTopics(admin);
        const missing = [...source.topics, ...(source.repartition?.topics ?? [])].filter(
          (t) => !topics.has(t),
        );
        if (missing.length > 0) throw new MissingTopicError(missing);
        return readLag(admin, redis, source);
      }),
    ttlMs,
  );
  return {
    lag: async (reg: PipelineRegistration) => (await cache.get(lagSourceOfRegistration(reg))).totalLag,
    /**
     * spec.source.idleTimeout: the partitions with nothing waiting in Kafka whose last commit is at
     * least that old. They stop holding windows open (query/store.ts isFinal).
     */
    async idle(reg: PipelineRegistration, lastCommits: Map<string, number | null>): Promise<Set<string>> {
      const timeout = reg.source?.idleTimeoutMs;
      if (timeout === undefined) return new Set();
      const reading = await cache.get(lagSourceOfRegistration(reg));
      const now = Date.now();
      return new Set(
        reading.partitions
          .filter((p) => {
            const at = lastCommits.get(p.id);
            return p.lag === 0 && at !== undefined && at !== null && now - at >= timeout;
          })
          .map((p) => p.id),
      );
    },
    async close() {
      const lease = current;
      current = undefined;
      await lease?.admin.then((a) => a.disconnect()).catch(() => {});
    },
  };
}

/** A registration's topic is not in Kafka (yet, or any more): its lag is unknown, the admin is fine. */
export class MissingTopicError extends Error {
  constructor(readonly topics: string[]) {
    super(
      `topic ${topics.join(', ')} does not exist in Kafka: create it, or delete the pipeline's registration`,
    );
    this.name = 'MissingTopicError';
  }
}

/** The lag reader a processor hands to its query API, closed with the processor. */
export type RegistrationLag = ReturnType<typeof registrationLag>;
