import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
// express-rate-limit: a maintained per-client rate limiter for express (in-memory store, per IP).
import { rateLimit } from 'express-rate-limit';
import { Counter, Histogram, type Registry } from 'prom-client';
import { QueryError } from '../query/errors.ts';
import {
  decodeCursor,
  many,
  parseBoolean,
  parseEnum,
  parseLimit,
  parseTime,
  single,
} from '../query/params.ts';
import { QueryStore } from '../query/store.ts';
import { parseVersion } from '../query/versions.ts';
import { WatchHub } from '../query/watch.ts';
import { TOP_QUERY_PARAMS, WINDOWS_QUERY_PARAMS } from '../spec/names.ts';
import type { RedisClient } from '../state/connection.ts';
import type { PipelineRegistration } from '../state/registry.ts';
import { bearerAuth } from './auth.ts';
import { sendError } from './errors.ts';
import { openApiDocument } from './openapi.ts';
import { parseQueryString } from './query-string.ts';
import { stateStoreGuard } from './state-store-guard.ts';

/** The pino logger surface the app uses (any pino logger fits). */
export interface HttpLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface HttpAppOptions {
  redis: RedisClient;
  /** prom-client registry: /metrics serves it, and the HTTP metrics are added to it */
  registry: Registry;
  /** /readyz answers 200 while this is true */
  readiness: () => boolean;
  logger: HttpLogger;
  /** bearer-token auth for the API and /metrics (see auth.ts readTokenFile/watchTokenFile); off when absent */
  auth?: { tokens: Set<string> };
  /** origins allowed to call the API from a browser (`*` for any); no CORS headers when absent */
  cors?: { origins: string[] };
  /** per-IP requests per window; false turns the limit off (default 600 per minute) */
  rateLimit?: { windowMs?: number; limit?: number } | false;
  /** how often the SSE poller reads the checkpoints (default 250 ms) */
  streamPollMs?: number;
  /** a pipeline's lag (state/lag.ts, cached); without it the API reports lag null */
  lag?: (reg: PipelineRegistration) => Promise<number | null>;
  /** spec.source.idleTimeout's idle partitions (state/lag.ts); without it no partition is idle */
  idle?: (reg: PipelineRegistration, lastCommits: Map<string, number | null>) => Promise<Set<string>>;
  /** keep answers that cannot have changed (final windows; reads at an unchanged checkpoint) in memory (default true) */
  queryCache?: boolean;
  /** express "trust proxy" (set it behind an ingress so the rate limit sees client IPs) */
  trustProxy?: boolean | number | string;
}

export type HttpApp = Express & { shutdown(): void };

const here = dirname(fileURLToPath(import.meta.url));
const dashboardDir = join(here, '..', 'dashboard');
const require = createRequire(import.meta.url);
/** uPlot (npm `uplot`) is served from node_modules, so the dashboard works offline (no CDN). */
const uplotJs = require.resolve('uplot/dist/uPlot.iife.min.js');
const uplotCss = require.resolve('uplot/dist/uPlot.min.css');

const MAX_URL_LENGTH = 8192;
const MAX_BODY_BYTES = 16 * 1024;
/** Query parameters that are not group filters (listed in spec/names.ts, which keeps groups off them). */
const WINDOWS_PARAMS = new Set<string>(WINDOWS_QUERY_PARAMS);
const TOP_PARAMS = new Set<string>(TOP_QUERY_PARAMS);

export function createHttpApp(options: HttpAppOptions): HttpApp {
  const { redis, registry, logger } = options;
  const store = new QueryStore(redis, {
    cache: options.queryCache,
    ...(options.lag ? { lag: options.lag } : {}),
    ...(options.idle ? { idle: options.idle } : {}),
  });
  const hub = new WatchHub(redis, {
    intervalMs: options.streamPollMs ?? 250,
    ...(options.idle ? { idle: options.idle } : {}),
    onError: (error) => logger.warn({ error: error.message }, 'stream poll failed'),
  });
  const streams = new Set<Response>();
  const metrics = httpMetrics(registry);

  const app = express() as HttpApp;
  app.disable('x-powered-by');
  app.set('query parser', parseQueryString);
  app.set('json spaces', 0);
  if (options.trustProxy !== undefined) app.set('trust proxy', options.trustProxy);

  countAndGuard(app, metrics);
  if (options.cors) app.use(cors(options.cors.origins));
  openRoutes(app, options);
  protect(app, options);
  app.use('/api/', stateStoreGuard(redis));
  queryRoutes(app, store, registry);
  streamRoute(app, store, hub, streams);
  notFoundAndErrors(app, logger);

  app.shutdown = () => {
    hub.close();
    for (const res of streams) res.end();
    streams.clear();
  };
  return app;
}

/** Metrics and request-size guards first, so even refused requests are counted. */
function countAndGuard(app: HttpApp, metrics: ReturnType<typeof httpMetrics>): void {
  app.use((req, res, next) => {
    const stop = metrics.duration.startTimer();
    res.on('finish', () => {
      const route = routeOf(req);
      metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      stop({ method: req.method, route });
    });
    if (req.originalUrl.length > MAX_URL_LENGTH) {
      sendError(res, 414, 'uri_too_long', `the URL is longer than ${MAX_URL_LENGTH} characters`);
      return;
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_BODY_BYTES) {
      sendError(res, 413, 'payload_too_large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
      return;
    }
    next();
  });
}

/** Probes, the OpenAPI document and the dashboard: open to all. */
function openRoutes(app: HttpApp, options: HttpAppOptions): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = options.readiness();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });

  // The dashboard: static files, open (they hold no data; the API calls they make carry the token).
  app.get('/assets/uplot.js', (_req, res) => res.sendFile(uplotJs));
  app.get('/assets/uplot.css', (_req, res) => res.sendFile(uplotCss));
  // The API's paths are never files: skipping the file lookup (a stat per request) there saves
  // about a tenth of a cheap query's CPU.
  const files = express.static(dashboardDir, { index: 'index.html', maxAge: '5m' });
  app.use((req, res, next) => (req.path.startsWith('/api/') ? next() : files(req, res, next)));
}

/** The per-address rate limit and the bearer tokens, in front of everything that reads data. */
function protect(app: HttpApp, options: HttpAppOptions): void {
  if (options.rateLimit !== false) {
    app.use(
      rateLimit({
        windowMs: options.rateLimit?.windowMs ?? 60_000,
        limit: options.rateLimit?.limit ?? 600,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        handler: (_req, res) =>
          sendError(res, 429, 'rate_limited', 'too many requests from this address; retry later'),
      }),
    );
  }
  if (options.auth) app.use(bearerAuth(options.auth.tokens));
}

/** /metrics and the query API (both behind protect()). */
function queryRoutes(app: HttpApp, store: QueryStore, registry: Registry): void {
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });

  app.get('/api/v1/pipelines', async (_req, res) => {
    res.json({ pipelines: await store.listPipelines() });
  });

  app.get('/api/v1/pipelines/:name', async (req, res) => {
    res.json(await store.pipeline(req.params.name));
  });

  app.get('/api/v1/pipelines/:name/windows', async (req, res) => {
    const filters = new Map<string, string[]>();
    for (const [key, raw] of Object.entries(req.query)) {
      if (!WINDOWS_PARAMS.has(key)) filters.set(key, many(key, raw));
    }
    const from = parseTime('from', req.query.from);
    const to = parseTime('to', req.query.to);
    if (from !== undefined && to !== undefined && from > to) {
      throw new QueryError(400, 'invalid_range', 'from: must not be after to');
    }
    res.json(
      await store.windows(req.params.name, {
        from,
        to,
        filters,
        limit: parseLimit(req.query.limit, 1000, 10_000),
        cursor: decodeCursor(req.query.cursor),
        order: parseEnum('order', req.query.order, ['asc', 'desc'] as const, 'asc'),
        rollup: parseBoolean('rollup', req.query.rollup),
        version: parseVersion(req.query.version),
      }),
    );
  });

  app.get('/api/v1/pipelines/:name/top', async (req, res) => {
    const filters = new Map<string, string[]>();
    for (const [key, raw] of Object.entries(req.query)) {
      if (!TOP_PARAMS.has(key)) filters.set(key, many(key, raw));
    }
    if (req.query.aggregate === undefined)
      throw new QueryError(400, 'invalid_parameter', 'aggregate: required');
    const aggregate = single('aggregate', req.query.aggregate);
    const rawWindow = req.query.window === undefined ? 'latest' : single('window', req.query.window);
    const window = rawWindow === 'latest' ? ('latest' as const) : parseTime('window', rawWindow)!;
    res.json(
      await store.top(req.params.name, {
        aggregate,
        window,
        filters,
        limit: parseLimit(req.query.limit, 10, 1000),
        version: parseVersion(req.query.version),
      }),
    );
  });
}

/** Server-sent events: window updates and progress of one pipeline, as they are committed. */
function streamRoute(app: HttpApp, store: QueryStore, hub: WatchHub, streams: Set<Response>): void {
  app.get('/api/v1/pipelines/:name/stream', async (req, res) => {
    const name = req.params.name;
    const registration = await store.registration(name); // 404 before the stream starts
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    let id = 0;
    const send = (event: string, data: unknown) => {
      res.write(`id: ${++id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 2000\n\n');
    send('ready', { pipeline: name, version: registration.activeVersion, at: Date.now() });
    streams.add(res);
    const unsubscribe = hub.subscribe(name, {
      window: (update) => send('window', update),
      progress: (update) => send('progress', update),
    });
    // A comment every 15 s keeps proxies from closing an idle stream.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const close = () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    };
    req.on('close', close);
    res.on('close', close);
  });
}

/** JSON 404s, and errors mapped to 4xx (the request), 503 (Redis unavailable) or 500. */
function notFoundAndErrors(app: HttpApp, logger: HttpLogger): void {
  app.use('/api', (req, res) => {
    sendError(res, 404, 'not_found', `no endpoint ${req.method} ${req.baseUrl}${req.path}`);
  });
  app.use((req, res) => {
    sendError(res, 404, 'not_found', `no endpoint ${req.method} ${req.path}`);
  });

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof QueryError) {
      sendError(res, error.status, error.code, error.message);
      return;
    }
    const status =
      (error as { status?: unknown; statusCode?: unknown }).status ??
      (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // body-parser, URI decoding and similar: the request is at fault
      sendError(res, status, status === 413 ? 'payload_too_large' : 'bad_request', (error as Error).message);
      return;
    }
    const message = (error as Error)?.message ?? String(error);
    if (
      /ECONNREFUSED|Connection is closed|CLUSTERDOWN|LOADING|MaxRetriesPerRequest|ETIMEDOUT/i.test(message)
    ) {
      logger.warn({ error: message, path: req.path }, 'Redis unavailable for a query');
      sendError(res, 503, 'unavailable', 'the state store is unavailable; retry later');
      return;
    }
    logger.error({ error: message, stack: (error as Error)?.stack, path: req.path }, 'query failed');
    sendError(res, 500, 'internal', 'internal error');
  });
}

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Listens on host:port (port 0 picks a free one) and gives back a close() that also ends SSE streams. */
export async function startHttpServer(
  app: Express | HttpApp,
  port: number,
  host = '0.0.0.0',
): Promise<RunningServer> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // SSE streams are long-lived requests
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    server,
    port: address.port,
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        (app as Partial<HttpApp>).shutdown?.();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function cors(origins: string[]) {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    res.vary('Origin');
    if (origin && (any || allowed.has(origin))) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, Last-Event-ID');
      res.setHeader('Access-Control-Allow-Methods', 'GET, OPTIONS');
      res.setHeader('Access-Control-Max-Age', '600');
    }
    if (req.method === 'OPTIONS') {
      // A preflight from an origin not on the list gets no CORS headers, so the browser refuses.
      res.status(204).end();
      return;
    }
    next();
  };
}

function routeOf(req: Request): string {
  const route = (req.route as { path?: string } | undefined)?.path;
  if (route) return route;
  return req.path.startsWith('/api') ? 'unmatched' : 'static';
}

function httpMetrics(registry: Registry) {
  const requests =
    (registry.getSingleMetric('kappaflow_http_requests_total') as
      | Counter<'method' | 'route' | 'status'>
      | undefined) ??
    new Counter({
      name: 'kappaflow_http_requests_total',
      help: 'HTTP requests of the query API, by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric('kappaflow_http_request_duration_seconds') as
      | Histogram<'method' | 'route'>
      | undefined) ??
    new Histogram({
      name: 'kappaflow_http_request_duration_seconds',
      help: 'Time to answer a query API request',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  return { requests, duration };
}
