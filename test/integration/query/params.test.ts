// Query parameters over HTTP on real Redis state: times without an offset are UTC whatever the
// server's zone, impossible dates are 400s, and ?version is read once and checked (400 vs 404).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveQueryApi } from '../../../harness/query-api.ts';
import { PipelineWriter, randomEvents } from '../../../harness/query-fixture.ts';
import type { RunningServer } from '../../../processor/src/http/app.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { createResponseValidator } from './openapi-check.ts';

const BASE = Date.UTC(2024, 4, 1, 12, 0, 0);
/** 16:00 UTC is 12:00 in New York (EDT): where a zone-dependent reading of `12:00:00` lands. */
const NEW_YORK_NOON = BASE + 4 * 3_600_000;
const W = '/api/v1/pipelines/{name}/windows';
const T = '/api/v1/pipelines/{name}/top';
const validate = createResponseValidator();

let redis: RedisClient;
let writer: PipelineWriter;
let api: RunningServer;

async function get(path: string, template: string) {
  const res = await fetch(`${api.url}${path}`);
  const body = (await res.json()) as any;
  validate(template, res.status, body);
  return { status: res.status, body };
}

async function expectError(path: string, template: string, status: number, code: string) {
  const res = await get(path, template);
  expect(res.status, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(status);
  expect(res.body.error.code, path).toBe(code);
  return res.body.error.message as string;
}

/** Runs with the process (and so the API server in it) in another time zone. */
async function inZone<T>(zone: string, run: () => Promise<T>): Promise<T> {
  const saved = process.env.TZ;
  process.env.TZ = zone;
  try {
    return await run();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

beforeAll(async () => {
  redis = connectRedis(inject('redisUrl'));
  writer = new PipelineWriter(redis, { partitions: 2, groupBy: ['country', 'format'] });
  await writer.register();
  // windows 12:00-12:05 UTC, and one at 16:00 UTC
  const events = [
    ...randomEvents(3, { base: BASE, windows: 6, count: 120 }),
    ...randomEvents(4, { base: NEW_YORK_NOON, windows: 1, count: 20 }),
  ].map((e, i) => ({ ...e, format: i % 2 === 0 ? 'csv' : 'json' }));
  await writer.commitSpread(events);
  api = await serveQueryApi(redis);
});

afterAll(async () => {
  await api?.close();
  redis?.disconnect();
});

const starts = (body: { windows: { start: number }[] }) => body.windows.map((w) => w.start);
const minutes = (...m: number[]) => m.map((i) => BASE + i * 60_000);

describe('query times', () => {
  it('reads a time without an offset as UTC, also when the server runs in New York', async () => {
    const n = writer.name;
    await inZone('America/New_York', async () => {
      expect(new Date(BASE).getTimezoneOffset()).toBe(240);
      for (const [from, to] of [
        ['2024-05-01T12:00:00', '2024-05-01T12:03:00'],
        ['2024-05-01 12:00', '2024-05-01T12:03:00.000'],
        ['2024-05-01T12:00:00Z', '2024-05-01T12:03:00Z'],
        // an offset written as %2B (a bare + in a query string is a space)
        ['2024-05-01T14:00:00%2B02:00', '2024-05-01T08:03:00-04:00'],
        [String(BASE), String(BASE + 180_000)],
      ]) {
        const res = await get(`/api/v1/pipelines/${n}/windows?rollup=true&from=${from}&to=${to}`, W);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(starts(res.body), `${from}..${to}`).toEqual(minutes(0, 1, 2));
      }
      // a date alone is midnight UTC
      const day = await get(`/api/v1/pipelines/${n}/windows?rollup=true&from=2024-05-01&to=2024-05-02`, W);
      expect(starts(day.body)).toEqual([...minutes(0, 1, 2, 3, 4, 5), NEW_YORK_NOON]);
      const top = await get(`/api/v1/pipelines/${n}/top?aggregate=orders&window=2024-05-01T12:02:00`, T);
      expect(top.status, JSON.stringify(top.body)).toBe(200);
      expect(top.body.window.start).toBe(BASE + 120_000);
    });
  });

  it('answers a date or time that does not exist with 400 invalid_time', async () => {
    const n = writer.name;
    for (const bad of [
      'from=2024-02-30',
      'from=2023-02-29T00:00:00Z',
      'to=2024-04-31T10:00Z',
      'to=2024-05-01T24:00:00Z',
      'from=2024-05-01T12:60:00Z',
      'from=2024-05-01T12:00:00%2B24:00',
      // a bare + decodes to a space: refused, not read some other way
      'from=2024-05-01T14:00:00+02:00',
    ]) {
      const message = await expectError(`/api/v1/pipelines/${n}/windows?${bad}`, W, 400, 'invalid_time');
      expect(message).toMatch(/^(from|to): /);
    }
    for (const bad of ['2024-05-01T24:00:00Z', '2024-04-31T12:00:00Z', '2024-05-32']) {
      await expectError(`/api/v1/pipelines/${n}/top?aggregate=orders&window=${bad}`, T, 400, 'invalid_time');
    }
  });
});

describe('?version', () => {
  it('is 400 invalid_parameter when malformed or repeated, 404 unknown_version when well-formed but not live', async () => {
    const n = writer.name;
    for (const qs of [
      'version=abc&version=1',
      'version=1&version=1',
      'version=1&version=abc',
      'version=0',
      'version=abc',
      'version=',
    ]) {
      await expectError(`/api/v1/pipelines/${n}/windows?${qs}`, W, 400, 'invalid_parameter');
      await expectError(`/api/v1/pipelines/${n}/top?aggregate=orders&${qs}`, T, 400, 'invalid_parameter');
    }
    await expectError(`/api/v1/pipelines/${n}/windows?version=7`, W, 404, 'unknown_version');
    await expectError(`/api/v1/pipelines/${n}/top?aggregate=orders&version=2`, T, 404, 'unknown_version');
    const ok = await get(`/api/v1/pipelines/${n}/windows?rollup=true&version=1`, W);
    expect([ok.status, ok.body.version]).toEqual([200, 1]);
  });
});

describe('group names', () => {
  // `format` is no query parameter (spec/names.ts no longer reserves it): a group by it filters
  it('filters by a group named format', async () => {
    const res = await get(
      `/api/v1/pipelines/${writer.name}/windows?format=csv&from=${BASE}&to=${BASE + 60_000}`,
      W,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const formats = res.body.windows.flatMap((w: any) => w.groups.map((g: any) => g.group.format));
    expect(formats.length).toBeGreaterThan(0);
    expect(new Set(formats)).toEqual(new Set(['csv']));
  });
});
