/**
 * The OpenAPI 3.1 description of the query API, written by hand next to the routes it describes
 * (app.ts). Its schemas are JSON Schema 2020-12; the integration tests validate every response
 * against them.
 */
import { KIND_NAMES } from '../aggregates/kinds.ts';

const error = { $ref: '#/components/responses/Error' };
const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
const name = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'Pipeline name',
  schema: { type: 'string' },
};
const time = (n: string, description: string) => ({
  name: n,
  in: 'query',
  required: false,
  description: `${description} Epoch milliseconds or ISO-8601 (\`2024-05-01T12:00:00Z\`; UTC when it has no offset). A date or time that does not exist (\`2024-02-30\`, \`T24:00\`) is a 400 invalid_time.`,
  schema: { type: 'string', examples: ['1714564800000', '2024-05-01T12:00:00Z'] },
});
const versionParam = {
  name: 'version',
  in: 'query',
  schema: { type: 'integer', minimum: 1 },
  description:
    'read this live version instead of the active one: a newer version replaying the log, to compare its answers before the switch. ' +
    'Not a whole number from 1 up, or given twice: 400 invalid_parameter; neither the active nor the replaying version: 404 unknown_version',
};
const groupFilter = {
  name: 'groupFilter',
  in: 'query',
  required: false,
  style: 'form',
  explode: true,
  description:
    'Filter by group fields: any groupBy name of the pipeline as a parameter, e.g. `?country=DE`. Repeat a field to accept ' +
    'several values (`?country=DE&country=FR`). Values compare as text; `null` matches a missing value. An unknown ' +
    'field is a 400 `unknown_group_field`.',
  schema: { type: 'object', additionalProperties: { type: 'string' } },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Kappaflow query API',
    version: '1.0.0',
    description:
      'Live windowed aggregates of Kappaflow pipelines, merged across all partitions. Every error is JSON ' +
      '`{ "error": { "code", "message" } }`. When bearer-token auth is on, every endpoint except /healthz, /readyz, ' +
      '/openapi.json and the dashboard page needs `Authorization: Bearer <token>` (or `?access_token=` for EventSource).',
  },
  servers: [{ url: '/' }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    responses: {
      Error: { description: 'A client or server error', content: json('Error') },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        additionalProperties: false,
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            additionalProperties: false,
            properties: {
              code: {
                type: 'string',
                description:
                  'invalid_time, invalid_limit, invalid_cursor, invalid_parameter, invalid_range, unknown_group_field, ' +
                  'unknown_aggregate, unsupported_aggregate, unknown_pipeline, unknown_window, unknown_version, not_found, unauthorized, ' +
                  'rate_limited, payload_too_large, uri_too_long, bad_request, unavailable, internal',
              },
              message: { type: 'string' },
            },
          },
        },
      },
      Window: {
        description: 'The window shape of a pipeline (durations in ms)',
        type: 'object',
        required: ['type', 'graceMs'],
        properties: {
          type: { enum: ['tumbling', 'hopping', 'session'] },
          sizeMs: { type: 'integer' },
          advanceMs: { type: 'integer' },
          sliceMs: {
            type: 'integer',
            description: 'hopping windows: the slice (gcd of size and advance) their state is kept per',
          },
          gapMs: { type: 'integer' },
          graceMs: { type: 'integer' },
          rollups: {
            type: 'boolean',
            description:
              'tumbling and hopping windows: each commit keeps all-groups totals, which rollups read',
          },
          ranks: {
            type: 'boolean',
            description:
              'tumbling and hopping windows: each commit keeps a top-N index of the aggregates of spec.rankBy (count, sum, min, max; percentiles by an upper bound), which top reads',
          },
        },
      },
      Aggregate: {
        type: 'object',
        required: ['name', 'kind'],
        properties: {
          name: { type: 'string' },
          kind: { enum: [...KIND_NAMES] },
          q: { type: 'number', description: 'quantile of a percentile' },
          accuracy: { type: 'number', description: 'relative accuracy of a percentile (its sketch)' },
          k: { type: 'integer', description: 'members a topK reports' },
        },
      },
      PartitionStatus: {
        type: 'object',
        required: ['id', 'committed', 'offset', 'watermark', 'updatedAt', 'records'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          committed: { type: 'boolean' },
          offset: { type: ['string', 'null'], description: 'next offset to read' },
          watermark: { type: ['number', 'null'] },
          updatedAt: {
            type: ['number', 'null'],
            description: 'wall-clock time of the last commit (epoch ms)',
          },
          records: { type: 'number' },
          late: { type: 'number', description: 'late records of this partition (after the grace period)' },
          deadLettered: {
            type: 'number',
            description: 'records of this partition sent to the dead-letter topic',
          },
          unrecoverable: {
            type: 'number',
            description:
              'records of this partition the aggregates miss for good: Redis lost them (a failover) and Kafka retention had already deleted them',
          },
        },
      },
      Pipeline: {
        type: 'object',
        required: [
          'name',
          'activeVersion',
          'latestVersion',
          'topics',
          'window',
          'groupBy',
          'aggregates',
          'retentionMs',
          'watermark',
          'lag',
          'replicas',
          'recordsPerSecond',
          'records',
          'late',
          'deadLettered',
          'unrecoverable',
          'updatedAt',
          'partitions',
          'versions',
        ],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          activeVersion: { type: 'integer', description: 'the version queries read' },
          latestVersion: {
            type: 'integer',
            description:
              'a newer version replaying the log into its own keys; equals activeVersion when none is',
          },
          topics: { type: 'array', items: { type: 'string' } },
          window: { $ref: '#/components/schemas/Window' },
          groupBy: { type: 'array', items: { type: 'string' } },
          aggregates: { type: 'array', items: { $ref: '#/components/schemas/Aggregate' } },
          retentionMs: { type: 'number' },
          watermark: {
            type: ['number', 'null'],
            description: 'lowest watermark of the committed partitions',
          },
          lag: {
            type: ['number', 'null'],
            description:
              'records not applied yet: topic end offsets minus the Redis checkpoints, summed over partitions, read at most every 1.5 s (0: caught up; null: the API has no Kafka access or Kafka did not answer)',
          },
          replicas: { type: 'integer', description: 'live replicas: heartbeats younger than 10 s' },
          recordsPerSecond: { type: 'number' },
          records: { type: 'number' },
          late: { type: ['number', 'null'] },
          deadLettered: { type: ['number', 'null'] },
          unrecoverable: {
            type: 'number',
            description:
              'records the aggregates miss for good (Redis lost them and Kafka retention had deleted them); anything above 0 means the answers are not exact',
          },
          updatedAt: { type: ['number', 'null'] },
          partitions: { type: 'array', items: { $ref: '#/components/schemas/PartitionStatus' } },
          versions: {
            type: 'array',
            description:
              'the live versions: the active one, and a newer one replaying the log (read it with ?version=)',
            items: {
              type: 'object',
              required: ['version', 'role', 'records', 'watermark'],
              additionalProperties: false,
              properties: {
                version: { type: 'integer' },
                role: { enum: ['active', 'replaying'] },
                records: { type: 'number', description: 'records folded into it so far' },
                watermark: { type: ['number', 'null'], description: 'its lowest partition watermark' },
              },
            },
          },
        },
      },
      PipelineList: {
        type: 'object',
        required: ['pipelines'],
        additionalProperties: false,
        properties: { pipelines: { type: 'array', items: { $ref: '#/components/schemas/Pipeline' } } },
      },
      TopKEntry: {
        type: 'object',
        required: ['value', 'count'],
        additionalProperties: false,
        properties: { value: { type: 'string' }, count: { type: 'number' } },
      },
      AggregateValue: {
        description:
          'number for count/sum/min/max/avg/countDistinct/percentile (null when the group has no value), string for first/last, ' +
          'a list of {value, count} for topK',
        type: ['number', 'string', 'null', 'array'],
        items: { $ref: '#/components/schemas/TopKEntry' },
      },
      Group: {
        type: 'object',
        required: ['group', 'values'],
        properties: {
          group: { type: 'object', description: 'groupBy name -> value ({} for a rollup)' },
          values: { type: 'object', additionalProperties: { $ref: '#/components/schemas/AggregateValue' } },
        },
      },
      WindowResult: {
        type: 'object',
        required: ['start', 'end', 'final', 'groupCount', 'groups'],
        additionalProperties: false,
        properties: {
          start: { type: 'integer' },
          end: { type: 'integer' },
          final: {
            type: 'boolean',
            description: 'closed on every partition: its values will not change any more',
          },
          groupCount: {
            type: 'integer',
            description: 'groups of the window matching the filter, on all pages',
          },
          groups: { type: 'array', items: { $ref: '#/components/schemas/Group' } },
        },
      },
      WindowsPage: {
        type: 'object',
        required: ['pipeline', 'version', 'windows', 'nextCursor'],
        additionalProperties: false,
        properties: {
          pipeline: { type: 'string' },
          version: { type: 'integer' },
          windows: { type: 'array', items: { $ref: '#/components/schemas/WindowResult' } },
          nextCursor: {
            type: ['string', 'null'],
            description: 'pass as `cursor` for the next page; null on the last page',
          },
        },
      },
      TopResult: {
        type: 'object',
        required: ['pipeline', 'version', 'aggregate', 'window', 'groupCount', 'groups'],
        additionalProperties: false,
        properties: {
          pipeline: { type: 'string' },
          version: { type: 'integer' },
          aggregate: { type: 'string' },
          window: {
            description: 'null when the pipeline has no window yet',
            oneOf: [
              { type: 'null' },
              {
                type: 'object',
                required: ['start', 'end', 'final'],
                additionalProperties: false,
                properties: {
                  start: { type: 'integer' },
                  end: { type: 'integer' },
                  final: { type: 'boolean' },
                },
              },
            ],
          },
          groupCount: { type: 'integer' },
          groups: {
            type: 'array',
            items: {
              allOf: [{ $ref: '#/components/schemas/Group' }],
              type: 'object',
              required: ['rank', 'value'],
              properties: { rank: { type: 'integer', minimum: 1 }, value: { type: 'number' } },
            },
          },
        },
      },
      Health: {
        type: 'object',
        required: ['status'],
        properties: { status: { enum: ['ok', 'ready', 'not ready'] } },
      },
      WindowEvent: {
        description: 'SSE `event: window` data',
        type: 'object',
        required: ['pipeline', 'version', 'start', 'end', 'final', 'partitions', 'at'],
        properties: {
          pipeline: { type: 'string' },
          version: { type: 'integer' },
          start: { type: 'integer' },
          end: { type: 'integer' },
          final: { type: 'boolean' },
          partitions: { type: 'array', items: { type: 'string' } },
          at: { type: 'integer' },
        },
      },
    },
  },
  security: [{ bearer: [] }, {}],
  paths: {
    '/api/v1/pipelines': {
      get: {
        operationId: 'listPipelines',
        summary: 'Every pipeline with its active version, watermark, lag and replicas',
        responses: {
          '200': { description: 'The pipelines', content: json('PipelineList') },
          '401': error,
          '414': error,
          '429': error,
          '503': error,
        },
      },
    },
    '/api/v1/pipelines/{name}': {
      get: {
        operationId: 'getPipeline',
        summary: 'One pipeline with its status',
        parameters: [name],
        responses: {
          '200': { description: 'The pipeline', content: json('Pipeline') },
          '401': error,
          '414': error,
          '404': error,
          '429': error,
        },
      },
    },
    '/api/v1/pipelines/{name}/windows': {
      get: {
        operationId: 'listWindows',
        summary: 'Windows in a time range with the aggregate values per group, merged across partitions',
        description:
          'Windows whose start is in [from, to), oldest first (or newest first with order=desc). A page holds at most `limit` ' +
          'groups (or `limit` windows with rollup=true); a window with more groups continues on the next page.',
        parameters: [
          name,
          time('from', 'Earliest window start (inclusive).'),
          time('to', 'Latest window start (exclusive).'),
          groupFilter,
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
          },
          {
            name: 'cursor',
            in: 'query',
            schema: { type: 'string' },
            description: '`nextCursor` of the previous page',
          },
          { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'], default: 'asc' } },
          {
            name: 'rollup',
            in: 'query',
            schema: { type: 'boolean', default: false },
            description: 'merge all (matching) groups of each window into one, group {}',
          },
          versionParam,
        ],
        responses: {
          '200': { description: 'One page of windows', content: json('WindowsPage') },
          '400': error,
          '401': error,
          '414': error,
          '404': error,
          '429': error,
        },
      },
    },
    '/api/v1/pipelines/{name}/top': {
      get: {
        operationId: 'topGroups',
        summary: 'The groups with the highest value of an aggregate in one window',
        parameters: [
          name,
          { name: 'aggregate', in: 'query', required: true, schema: { type: 'string' } },
          {
            name: 'window',
            in: 'query',
            schema: { type: 'string', default: 'latest' },
            description: '`latest` or a window start (epoch ms or ISO-8601, UTC when it has no offset)',
          },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 10 } },
          versionParam,
          groupFilter,
        ],
        responses: {
          '200': { description: 'The top groups', content: json('TopResult') },
          '400': error,
          '401': error,
          '414': error,
          '404': error,
          '429': error,
        },
      },
    },
    '/api/v1/pipelines/{name}/stream': {
      get: {
        operationId: 'streamUpdates',
        summary:
          'Server-sent events: `window` (one per window update), `progress` (checkpoints moved), `ready` on connect',
        parameters: [name],
        responses: {
          '200': {
            description:
              'An event stream; each `data:` is JSON (`window` events follow the WindowEvent schema)',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          '401': error,
          '414': error,
          '404': error,
          '429': error,
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        security: [{}],
        summary: 'This document',
        responses: {
          '200': {
            description: 'OpenAPI 3.1',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        responses: {
          '200': {
            description: 'Prometheus text format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          '401': error,
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'healthz',
        security: [{}],
        summary: 'Liveness',
        responses: { '200': { description: 'Alive', content: json('Health') } },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        security: [{}],
        summary: 'Readiness',
        responses: {
          '200': { description: 'Ready', content: json('Health') },
          '503': { description: 'Not ready', content: json('Health') },
        },
      },
    },
    '/': {
      get: {
        operationId: 'dashboard',
        security: [{}],
        summary: 'The live dashboard',
        responses: {
          '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
        },
      },
    },
  },
} as const;
