// Graceful shutdown shared by the long-running commands.
import { logger } from '../observability/logger.ts';

/**
 * Resolves with the exit code once SIGTERM or SIGINT arrived and `stop` finished draining; a second
 * signal exits at once (an operator who presses Ctrl-C twice means it).
 */
export function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without draining');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'draining');
      stop().then(
        () => {
          logger.info('stopped');
          resolve(0);
        },
        (error) => {
          logger.error({ error: (error as Error).message }, 'drain failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}
