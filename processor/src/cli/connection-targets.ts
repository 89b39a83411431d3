// Where `kappaflow run` connects: the command line or environment first, then the pipeline's own
// spec.kafka.brokers and spec.redis.url (the same YAML runs locally and on a cluster), then loopback.
import type { KafkaSpec } from '../spec/schema.ts';
import { clusterUrl } from '../state/redis-url.ts';
export const DEFAULT_BROKERS = '127.0.0.1:9092';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** `given`: the flag's or environment variable's value, undefined when neither was set. */
export function brokersFor(
  given: string | undefined,
  spec: { kafka?: { brokers?: readonly string[] | undefined } | undefined },
): string[] {
  const list = given ?? spec.kafka?.brokers?.join(',') ?? DEFAULT_BROKERS;
  return list
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

/** The Redis URL; spec.redis.cluster turns the spec's URL into the cluster scheme, TLS kept. */
export function redisUrlFor(
  given: string | undefined,
  spec: { redis?: { url?: string | undefined; cluster?: boolean } | undefined },
): string {
  if (given !== undefined) return given;
  const url = spec.redis?.url;
  if (url === undefined) return DEFAULT_REDIS_URL;
  return spec.redis?.cluster ? clusterUrl(url) : url;
}

/**
 * The spec's Kafka client id always; its TLS and SASL only when the brokers are the spec's too: they
 * describe that Kafka, not one given on the command line (a local broker for a production YAML).
 */
export function kafkaSettingsFor(
  given: string | undefined,
  spec: { kafka?: KafkaSpec | undefined },
): { kafka?: KafkaSpec } {
  const kafka = spec.kafka;
  if (!kafka) return {};
  if (given === undefined) return { kafka };
  return kafka.clientId === undefined ? {} : { kafka: { clientId: kafka.clientId } as KafkaSpec };
}
