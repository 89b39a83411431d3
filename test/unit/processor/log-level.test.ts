import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../harness/paths.ts';
import { logLevelFrom, refusedLogLevelMessage } from '../../../processor/src/observability/log-level.ts';

describe('LOG_LEVEL', () => {
  it('takes pino levels in any case and with spaces, info when unset or empty', () => {
    expect(logLevelFrom(undefined)).toEqual({ level: 'info' });
    expect(logLevelFrom('  ')).toEqual({ level: 'info' });
    expect(logLevelFrom('DEBUG')).toEqual({ level: 'debug' });
    expect(logLevelFrom(' warn\n')).toEqual({ level: 'warn' });
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
      expect(logLevelFrom(level)).toEqual({ level });
  });

  it('runs at info on an unknown level and says which levels exist', () => {
    expect(logLevelFrom('verbose')).toEqual({ level: 'info', refused: 'verbose' });
    expect(refusedLogLevelMessage('verbose')).toMatch(
      /LOG_LEVEL="verbose" is not a log level.*trace, debug, info/,
    );
  });

  it('a typo in LOG_LEVEL does not stop the CLI (it used to throw at start)', () => {
    const run = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'kappaflow.js'), 'validate', join(repoRoot, 'examples', 'page-views.yaml')],
      {
        env: { ...process.env, LOG_LEVEL: 'verbose', KAPPAFLOW_REPLICA_ID: 'pod-a', HOSTNAME: 'node-1' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.stderr + run.stdout).toContain('page-views ok');
    expect(run.status).toBe(0);
    // Log lines name the pod (KAPPAFLOW_REPLICA_ID), not the node a hostNetwork pod shares the name of.
    const warning = (run.stdout + run.stderr).split('\n').find((line) => line.includes('is not a log level'));
    expect(JSON.parse(warning!)).toMatchObject({ replica: 'pod-a' });
  });
});
