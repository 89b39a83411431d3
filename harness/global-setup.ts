import type { TestProject } from 'vitest/node';
import { startKafka } from './kafka.ts';
import { startRedis } from './redis.ts';
import { startSchemaRegistry } from './schema-registry.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    redisUrl: string;
    /** a real Schema Registry (Confluent API), in-memory */
    schemaRegistryUrl: string;
  }
}

/**
 * Starts one real Kafka broker, one real Redis (AOF on) and a real Schema Registry for the whole run and stops both after
 * it. Tests that break services on purpose (kill a broker, restart Redis) start their own with
 * startKafka()/startRedis() instead of touching these shared ones.
 */
export default async function setup(project: TestProject) {
  const [kafka, redis, registry] = await Promise.all([startKafka(), startRedis(), startSchemaRegistry()]);
  project.provide('kafkaBrokers', kafka.brokers);
  project.provide('redisUrl', redis.url);
  project.provide('schemaRegistryUrl', registry.url);
  return async () => {
    await Promise.all([kafka.stop(), redis.stop(), registry.close()]);
  };
}
