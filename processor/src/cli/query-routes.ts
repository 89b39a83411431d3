// Mounts the query API and dashboard on a processor's HTTP server (the query API lives in ../http/).
import type express from 'express';
import type { RedisClient } from '../state/connection.ts';

export async function mountQueryApi(
  _app: express.Express,
  _deps: { redis: RedisClient; ready: () => boolean },
): Promise<void> {
  // Filled in when the query API lands (processor/src/http/).
}
