// Options shared by `run` and `serve` for the query API: auth tokens and CORS.
import { type Command, Option } from 'commander';
import { watchTokenFile } from '../http/auth.ts';

export function addHttpOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--port <port>', 'HTTP port of the query API, dashboard, /metrics and probes')
        .env('PORT')
        .default('8080'),
    )
    .addOption(new Option('--host <host>', 'HTTP listen address').env('HOST').default('0.0.0.0'))
    .addOption(
      new Option(
        '--auth-token-file <file>',
        'require a bearer token from this file (one per line; re-read when it changes)',
      ).env('KAPPAFLOW_AUTH_TOKEN_FILE'),
    )
    .addOption(
      new Option(
        '--cors-origins <list>',
        'origins allowed to query from a browser, comma-separated, or *',
      ).env('KAPPAFLOW_CORS_ORIGINS'),
    );
}

export interface HttpCliOptions {
  port: string;
  host: string;
  authTokenFile?: string;
  corsOrigins?: string;
}

export function httpSettings(options: HttpCliOptions) {
  return {
    port: Number(options.port),
    host: options.host,
    ...(options.authTokenFile ? { auth: { tokens: watchTokenFile(options.authTokenFile).tokens } } : {}),
    ...(options.corsOrigins
      ? { cors: { origins: options.corsOrigins.split(',').map((o) => o.trim()) } }
      : {}),
  };
}
