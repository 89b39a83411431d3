/**
 * The query API as the processor and `kappaflow serve` mount it, for tests that read state written by
 * harness/query-fixture.ts: on a free loopback port, silent, no rate limit (tests fire fast).
 */
import { Registry } from 'prom-client';
import {
  createHttpApp,
  type HttpAppOptions,
  type RunningServer,
  startHttpServer,
} from '../processor/src/http/app.ts';
import type { RedisClient } from '../processor/src/state/connection.ts';

export const silentLogger = { info() {}, warn() {}, error() {}, debug() {} };

export function serveQueryApi(
  redis: RedisClient,
  options: Partial<HttpAppOptions> = {},
): Promise<RunningServer> {
  const app = createHttpApp({
    redis,
    registry: new Registry(),
    readiness: () => true,
    logger: silentLogger,
    rateLimit: false,
    ...options,
  });
  return startHttpServer(app, 0, '127.0.0.1');
}
