import type { Logger } from '../../observability/logger.ts';
import type { WaitHooks } from './value-decoder.ts';

/**
 * How a batch waits for an unreachable schema registry: it keeps its consumer group membership
 * (heartbeats), tells the stall watchdog it is alive, and logs at most every 10 s. Nothing of the
 * batch is committed or dead-lettered meanwhile.
 */
export function registryWaitHooks(
  logger: Logger,
  context: { topic: string; partition: number },
  payload: { heartbeat(): Promise<void>; isRunning(): boolean; isStale(): boolean },
  alive: () => void = () => {},
): WaitHooks {
  let loggedAt = 0;
  return {
    isRunning: () => payload.isRunning() && !payload.isStale(),
    async onWait(error, attempt, delayMs) {
      alive();
      if (Date.now() - loggedAt >= 10_000) {
        loggedAt = Date.now();
        logger.warn(
          { ...context, attempt, retryInMs: delayMs, error: error.message },
          'waiting for the schema registry; this batch is held (not committed, not dead-lettered)',
        );
      }
      await payload.heartbeat().catch(() => {});
    },
  };
}
