import { pino } from 'pino';
import { logLevelFrom, refusedLogLevelMessage } from './log-level.ts';

const choice = logLevelFrom(process.env.LOG_LEVEL);

/** JSON logs to stdout (what Kubernetes collects); LOG_LEVEL tunes verbosity. */
export const logger = pino({
  level: choice.level,
  // The pod's name (the operator sets KAPPAFLOW_REPLICA_ID from it); HOSTNAME is the node's name in
  // a hostNetwork pod.
  base: { pid: process.pid, replica: process.env.KAPPAFLOW_REPLICA_ID || process.env.HOSTNAME },
});
if (choice.refused !== undefined) logger.warn(refusedLogLevelMessage(choice.refused));

export type Logger = typeof logger;
