import { pino } from 'pino';

/** JSON logs to stdout (what Kubernetes collects); LOG_LEVEL tunes verbosity. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid, replica: process.env.HOSTNAME },
});

export type Logger = typeof logger;
