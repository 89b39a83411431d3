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

/**
 * Until the returned function is called, SIGTERM or SIGINT exits at once (code 0). Installed before a
 * command starts: in a container the process is PID 1, which the kernel spares every signal it has no
 * handler for, so a SIGTERM arriving during start-up (a pod deleted or scaled away seconds after it
 * started) would be lost and the kubelet would kill the container only at the end of its grace period.
 * Exiting mid-start-up is safe: it leaves what a SIGKILL leaves, which the checkpoints are made for.
 */
export function exitOnSignalWhileStarting(): () => void {
  const exit = (signal: string) => {
    logger.info({ signal }, 'signal during start-up: exiting before anything is drained');
    process.exit(0);
  };
  const onTerm = () => exit('SIGTERM');
  const onInt = () => exit('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
}
