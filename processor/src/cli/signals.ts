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
    onStopSignal(shutdown);
  });
}

/**
 * Hands SIGTERM and SIGINT over from the start-up handlers of bin/kappaflow.js (which exit at once)
 * to the command's own. The command's are added before the start-up ones go, so there is no moment
 * without a handler: in a container the process is PID 1, and a signal arriving then would be lost.
 */
export function onStopSignal(handler: (signal: 'SIGTERM' | 'SIGINT') => void): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => handler(signal));
    for (const listener of process.listeners(signal)) {
      if ((listener as unknown as Record<symbol, unknown>)[Symbol.for('kappaflow.startupSignal')])
        process.off(signal, listener);
    }
  }
}
