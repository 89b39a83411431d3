/**
 * The Kafka names of a pipeline version, built only here: the processor, the version promoter, the
 * operator (lag, cleanup) and the tests must agree on them.
 */
import type { RuntimePipeline } from './pipeline.ts';

/** The consumer group of a pipeline version: `kappaflow.<pipeline>.v<version>`. */
export const consumerGroupOf = (pipeline: string, version: number) => `kappaflow.${pipeline}.v${version}`;

/** The group of the session re-keying stage, beside the version's own group. */
export const repartitionGroupOf = (pipeline: string, version: number) =>
  `${consumerGroupOf(pipeline, version)}.repartition`;

/** Where the exactly-once sink records its progress per source partition (sink-transactions.ts). */
export const sinkGroupOf = (pipeline: string, version: number) =>
  `${consumerGroupOf(pipeline, version)}.sink`;

/** The internal topic that re-keys a session pipeline's records by their group key. */
export const repartitionTopicOf = (pipeline: string, version: number) =>
  `kappaflow.${pipeline}.v${version}.repartition`;

/** The version whose consumer group `groupId` is (not its repartition group), or undefined. */
export function versionOfConsumerGroup(pipeline: string, groupId: string): number | undefined {
  const prefix = consumerGroupOf(pipeline, 0).slice(0, -1);
  if (!groupId.startsWith(prefix)) return undefined;
  const rest = groupId.slice(prefix.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

/** The version whose consumer group or session repartition group `groupId` is, or undefined. */
export function versionOfAnyGroup(pipeline: string, groupId: string): number | undefined {
  const suffix = '.repartition';
  const own = groupId.endsWith(suffix) ? groupId.slice(0, -suffix.length) : groupId;
  return versionOfConsumerGroup(pipeline, own);
}

/** The id of a source partition in Redis keys: the partition number, prefixed by the topic's index when there are several topics. */
export function partitionIdOf(
  pipeline: Pick<RuntimePipeline, 'source'>,
  topic: string,
  partition: number,
): string {
  if (pipeline.source.topics.length === 1) return String(partition);
  return `${pipeline.source.topics.indexOf(topic)}.${partition}`;
}
