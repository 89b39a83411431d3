// The shared Redis client retries without limit (the consumer loop waits for Redis rather than
// failing), so a query sent while Redis is away would hang until it is back. Once the client has
// been ready, the API answers 503 while it is not; before its first connection, queries wait for it.
import type { NextFunction, Request, Response } from 'express';
import type { RedisClient } from '../state/connection.ts';
import { sendError } from './errors.ts';

export function stateStoreGuard(redis: RedisClient) {
  let connectedOnce = redis.status === 'ready';
  if (!connectedOnce)
    redis.once('ready', () => {
      connectedOnce = true;
    });
  return (_req: Request, res: Response, next: NextFunction) => {
    if (connectedOnce && redis.status !== 'ready') {
      res.setHeader('Retry-After', '1');
      sendError(res, 503, 'unavailable', 'the state store (Redis) is unreachable; retry later');
      return;
    }
    next();
  };
}
