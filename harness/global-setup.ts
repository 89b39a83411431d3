import type { TestProject } from 'vitest/node';
import { startKafka } from './kafka.ts';
import { startRedis } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
    redisUrl: string;
  }
}

/**
 * Starts one real Kafka broker and one real Redis (AOF on) for the whole run and stops both after
 * it. Tests that break services on purpose (kill a broker, restart Redis) start their own with
 * startKafka()/startRedis() instead of touching these shared ones.
 */
export default async function setup(project: TestProject) {
  const [kafka, redis] = await Promise.all([startKafka(), startRedis()]);
  project.provide('kafkaBrokers', kafka.brokers);
  project.provide('redisUrl', redis.url);
  return async () => {
    await Promise.all([kafka.stop(), redis.stop()]);
  };
}
