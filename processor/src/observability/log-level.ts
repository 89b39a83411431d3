import { pino } from 'pino';

export interface LogLevelChoice {
  level: string;
  /** set when LOG_LEVEL named no level: what was given, so the caller can log it once started */
  refused?: string;
}

/**
 * LOG_LEVEL as users write it ("DEBUG", " warn "): pino only knows lower-case names and throws at
 * start on anything else, which turned a typo into a crash loop. An unknown value runs at info.
 */
export function logLevelFrom(value: string | undefined): LogLevelChoice {
  if (value === undefined || value.trim() === '') return { level: 'info' };
  const level = value.trim().toLowerCase();
  if (level in pino.levels.values || level === 'silent') return { level };
  return { level: 'info', refused: value };
}

/** The warning to log when LOG_LEVEL was refused. */
export function refusedLogLevelMessage(refused: string): string {
  const known = [...Object.keys(pino.levels.values), 'silent'].join(', ');
  return `LOG_LEVEL=${JSON.stringify(refused)} is not a log level; logging at info. Use one of: ${known}`;
}
