import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveQueryApi } from '../../../harness/query-api.ts';
import { type Event, PipelineWriter, randomEvents } from '../../../harness/query-fixture.ts';
import { startRedis } from '../../../harness/redis.ts';
import { waitUntil } from '../../../harness/service.ts';
import { bucketOf, quantile } from '../../../processor/src/aggregates/ddsketch.ts';
import type { HttpAppOptions, RunningServer } from '../../../processor/src/http/app.ts';
import { readTokenFile } from '../../../processor/src/http/auth.ts';
import { decodeCursor, encodeCursor } from '../../../processor/src/query/params.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { publishHeartbeat } from '../../../processor/src/state/replica-status.ts';
import { offerVersion } from '../../../processor/src/state/versions.ts';
import { expectedWindows, groupKey } from './expected.ts';
import { createResponseValidator } from './openapi-check.ts';
import { openStream } from './sse-events.ts';

const BASE = Date.UTC(2024, 4, 1, 12, 0, 0);
const validate = createResponseValidator();

let redis: RedisClient;
let writer: PipelineWriter;
let api: RunningServer;
const extra: RunningServer[] = [];

async function serve(options: Partial<HttpAppOptions> = {}, client = redis): Promise<RunningServer> {
  const running = await serveQueryApi(client, options);
  extra.push(running);
  return running;
}

async function get(server: RunningServer, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, { headers });
  const text = await res.text();
  let body: unknown = text;
  if (res.headers.get('content-type')?.includes('json')) body = JSON.parse(text);
  return { status: res.status, body: body as any, headers: res.headers };
}

/** GET, check the body against openapi.json, return it. */
async function api200(path: string, template: string) {
  const res = await get(api, path);
  validate(template, res.status, res.body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function apiError(
  path: string,
  template: string,
  status: number,
  code: string,
  server = api,
  headers = {},
) {
  const res = await get(server, path, headers);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  validate(template, res.status, res.body);
  return res.body;
}

beforeAll(async () => {
  redis = connectRedis(inject('redisUrl'));
  writer = new PipelineWriter(redis, { partitions: 3 });
  await writer.register();
  // 6 windows of events over 3 partitions, committed in several batches per partition, in time order.
  const events = randomEvents(42, { base: BASE, windows: 6, count: 900 }).sort((a, b) => a.time - b.time);
  // unique event times keep first/last unambiguous across partitions
  const seen = new Set<number>();
  const unique = events.filter((e) => {
    if (seen.has(e.time)) return false;
    seen.add(e.time);
    return true;
  });
  for (let i = 0; i < unique.length; i += 100) {
    const batch = unique.slice(i, i + 100);
    for (const p of ['0', '1', '2'])
      await writer.commit(
        p,
        batch.filter((_, j) => j % 3 === Number(p)),
        // the processor counts late and dead-lettered records in the checkpoint
        i === 0 && p === '0' ? { late: 3, deadLettered: 4 } : {},
      );
  }
  await publishHeartbeat(redis, writer.name, 1, {
    replica: 'r1',
    at: Date.now(),
    partitions: ['0', '1'],
    recordsPerSecond: 120,
    lag: { '0': 5, '1': 7 },
    watermarks: {},
  });
  await publishHeartbeat(redis, writer.name, 1, {
    replica: 'r2',
    at: Date.now(),
    partitions: ['2'],
    recordsPerSecond: 80,
    lag: { '2': 1 },
    watermarks: {},
  });
  api = await serve();
});

afterAll(async () => {
  for (const s of extra) await s.close();
  redis?.disconnect();
});

function closeTo(actual: number, expected: number, relative = 1e-9) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.max(1e-9, Math.abs(expected) * relative));
}

function checkGroup(
  values: any,
  expected: ReturnType<typeof expectedWindows> extends Map<number, Map<string, infer G>> ? G : never,
  events: Event[],
) {
  expect(values.orders).toBe(expected.orders);
  closeTo(values.revenue, expected.revenue);
  expect(values.minAmount).toBe(expected.minAmount);
  expect(values.maxAmount).toBe(expected.maxAmount);
  closeTo(values.avgAmount, expected.avgAmount);
  expect(values.firstItem).toBe(expected.firstItem);
  expect(values.lastItem).toBe(expected.lastItem);
  // HyperLogLog: Redis is exact-ish at these cardinalities; allow its stated error
  expect(Math.abs(values.users - expected.users)).toBeLessThanOrEqual(Math.max(1, expected.users * 0.02));
  // DDSketch: within the 1% relative accuracy of the exact quantile, and exactly the sketch of all events merged
  closeTo(values.p90, expected.p90, 0.0101);
  const buckets = new Map<string, number>();
  for (const e of events) buckets.set(bucketOf(e.amount), (buckets.get(bucketOf(e.amount)) ?? 0) + 1);
  expect(values.p90).toBe(quantile(buckets, 0.9));
  expect(values.topItems).toEqual(expected.topItems);
}

describe('query API on state committed by the processor (3 partitions)', () => {
  it('lists pipelines with version, watermark, lag, replicas and counters', async () => {
    const body = await api200('/api/v1/pipelines', '/api/v1/pipelines');
    const mine = body.pipelines.find((p: any) => p.name === writer.name);
    expect(mine).toBeDefined();
    expect(mine.activeVersion).toBe(1);
    expect(mine.replicas).toBe(2);
    // Lag comes from Kafka end offsets against the checkpoints (test/integration/query/lag.test.ts),
    // never from heartbeats: this server has no Kafka access, so it says it does not know.
    expect(mine.lag).toBeNull();
    expect(mine.late).toBe(3);
    expect(mine.deadLettered).toBe(4);
    expect(mine.recordsPerSecond).toBe(200);
    expect(mine.records).toBe(writer.events.length);
    expect(mine.watermark).toBe(Math.min(...['0', '1', '2'].map((p) => writer.watermark(p)!)));
    expect(mine.partitions.map((p: any) => p.id)).toEqual(['0', '1', '2']);
    const one = await api200(`/api/v1/pipelines/${writer.name}`, '/api/v1/pipelines/{name}');
    expect(one.name).toBe(writer.name);
  });

  it('merges every aggregate of every window and group exactly across partitions', async () => {
    const body = await api200(
      `/api/v1/pipelines/${writer.name}/windows?limit=10000`,
      '/api/v1/pipelines/{name}/windows',
    );
    const expected = expectedWindows(writer.events, 60_000);
    expect(body.windows.map((w: any) => w.start)).toEqual([...expected.keys()].sort((a, b) => a - b));
    expect(body.nextCursor).toBeNull();
    let groups = 0;
    for (const w of body.windows) {
      expect(w.end).toBe(w.start + 60_000);
      const exp = expected.get(w.start)!;
      expect(w.groupCount).toBe(exp.size);
      expect(w.groups.length).toBe(exp.size);
      for (const g of w.groups) {
        const key = groupKey(g.group);
        const events = writer.events.filter(
          (e) => groupKey(e) === key && e.time >= w.start && e.time < w.end,
        );
        checkGroup(g.values, exp.get(key)!, events);
        groups++;
      }
    }
    expect(groups).toBeGreaterThan(50);
  });

  it('marks windows final once every partition watermark passed end + grace', async () => {
    const body = await api200(`/api/v1/pipelines/${writer.name}/windows`, '/api/v1/pipelines/{name}/windows');
    const low = Math.min(...['0', '1', '2'].map((p) => writer.watermark(p)!));
    for (const w of body.windows) expect(w.final).toBe(w.end + 5_000 <= low);
    expect(body.windows.some((w: any) => w.final)).toBe(true);
    expect(body.windows.some((w: any) => !w.final)).toBe(true);
  });

  it('filters by any group field, with several values', async () => {
    const body = await api200(
      `/api/v1/pipelines/${writer.name}/windows?country=DE`,
      '/api/v1/pipelines/{name}/windows',
    );
    const expected = expectedWindows(writer.events, 60_000, (e) => e.country === 'DE');
    for (const w of body.windows) {
      for (const g of w.groups) expect(g.group.country).toBe('DE');
      expect(w.groups.length).toBe(expected.get(w.start)!.size);
    }
    const two = await api200(
      `/api/v1/pipelines/${writer.name}/windows?device=ios&country=DE&country=FR`,
      '/api/v1/pipelines/{name}/windows',
    );
    const all = two.windows.flatMap((w: any) => w.groups);
    expect(all.length).toBeGreaterThan(0);
    for (const g of all) {
      expect(['DE', 'FR']).toContain(g.group.country);
      expect(g.group.device).toBe('ios');
    }
    // A value for every group field: the groups are looked up by key, not scanned; same answer, exactly.
    const wanted = (e: { device: string; country: string }) =>
      e.device === 'ios' && ['DE', 'FR'].includes(e.country);
    const expectedTwo = expectedWindows(writer.events, 60_000, wanted);
    expect(two.windows.map((w: any) => w.start)).toEqual([...expectedTwo.keys()].sort((a, b) => a - b));
    for (const w of two.windows) {
      const exp = expectedTwo.get(w.start)!;
      expect(w.groups.length).toBe(exp.size);
      for (const g of w.groups) {
        const key = groupKey(g.group);
        const events = writer.events.filter(
          (e) => wanted(e) && groupKey(e) === key && e.time >= w.start && e.time < w.end,
        );
        checkGroup(g.values, exp.get(key)!, events);
      }
    }
  });

  it('rolls every group of a window up into one, exactly', async () => {
    const body = await api200(
      `/api/v1/pipelines/${writer.name}/windows?rollup=true&country=US`,
      '/api/v1/pipelines/{name}/windows',
    );
    for (const w of body.windows) {
      expect(w.groups).toHaveLength(1);
      expect(w.groups[0].group).toEqual({});
      const events = writer.events.filter((e) => e.country === 'US' && e.time >= w.start && e.time < w.end);
      expect(w.groups[0].values.orders).toBe(events.length);
      closeTo(
        w.groups[0].values.revenue,
        events.reduce((s, e) => s + e.amount, 0),
      );
      const users = new Set(events.map((e) => e.user)).size;
      expect(Math.abs(w.groups[0].values.users - users)).toBeLessThanOrEqual(Math.max(1, users * 0.02));
    }
  });

  it('takes time ranges as epoch ms or ISO-8601, newest first on request', async () => {
    const from = BASE + 60_000;
    const to = BASE + 3 * 60_000;
    const a = await api200(
      `/api/v1/pipelines/${writer.name}/windows?from=${from}&to=${to}`,
      '/api/v1/pipelines/{name}/windows',
    );
    const b = await api200(
      `/api/v1/pipelines/${writer.name}/windows?from=${new Date(from).toISOString()}&to=${encodeURIComponent(new Date(to).toISOString())}`,
      '/api/v1/pipelines/{name}/windows',
    );
    expect(a.windows.map((w: any) => w.start)).toEqual([from, from + 60_000]);
    expect(b).toEqual(a);
    const desc = await api200(
      `/api/v1/pipelines/${writer.name}/windows?order=desc&rollup=1&limit=2`,
      '/api/v1/pipelines/{name}/windows',
    );
    expect(desc.windows.map((w: any) => w.start)).toEqual([BASE + 5 * 60_000, BASE + 4 * 60_000]);
  });

  it('paginates with limit and cursor: the pages put together are the whole answer', async () => {
    const whole = await api200(
      `/api/v1/pipelines/${writer.name}/windows?limit=10000`,
      '/api/v1/pipelines/{name}/windows',
    );
    const flat = (page: any) =>
      page.windows.flatMap((w: any) => w.groups.map((g: any) => ({ start: w.start, ...g })));
    const rows: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await api200(
        `/api/v1/pipelines/${writer.name}/windows?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
        '/api/v1/pipelines/{name}/windows',
      );
      expect(flat(page).length).toBeLessThanOrEqual(7);
      rows.push(...flat(page));
      cursor = page.nextCursor;
      if (cursor) {
        // What the store emits decodes to the last window of the page and re-encodes to itself.
        const decoded = decodeCursor(cursor)!;
        expect(decoded.s).toBe(page.windows[page.windows.length - 1].start);
        expect(encodeCursor(decoded)).toBe(cursor);
      }
      pages++;
    } while (cursor && pages < 1000);
    expect(rows).toEqual(flat(whole));
    expect(pages).toBeGreaterThan(5);
    // windows (rollup) paginate too
    const p1 = await api200(
      `/api/v1/pipelines/${writer.name}/windows?rollup=true&limit=4`,
      '/api/v1/pipelines/{name}/windows',
    );
    const p2 = await api200(
      `/api/v1/pipelines/${writer.name}/windows?rollup=true&limit=4&cursor=${p1.nextCursor}`,
      '/api/v1/pipelines/{name}/windows',
    );
    expect([...p1.windows, ...p2.windows].map((w: any) => w.start)).toEqual(
      whole.windows.map((w: any) => w.start),
    );
    expect(p2.nextCursor).toBeNull();
  });

  it('ranks the top groups of a window by any numeric aggregate', async () => {
    const expected = expectedWindows(writer.events, 60_000);
    const latest = Math.max(...expected.keys());
    const top = await api200(
      `/api/v1/pipelines/${writer.name}/top?aggregate=revenue&limit=5`,
      '/api/v1/pipelines/{name}/top',
    );
    expect(top.window.start).toBe(latest);
    const exp = [...expected.get(latest)!.entries()].sort((a, b) => b[1].revenue - a[1].revenue).slice(0, 5);
    expect(top.groups.map((g: any) => groupKey(g.group))).toEqual(exp.map(([k]) => k));
    top.groups.forEach((g: any, i: number) => {
      expect(g.rank).toBe(i + 1);
      closeTo(g.value, exp[i]![1].revenue);
      expect(g.values.orders).toBe(exp[i]![1].orders);
      expect(g.values.topItems).toEqual(exp[i]![1].topItems);
    });
    const second = BASE + 60_000;
    const byCount = await api200(
      `/api/v1/pipelines/${writer.name}/top?aggregate=orders&window=${new Date(second).toISOString()}&limit=3&device=web`,
      '/api/v1/pipelines/{name}/top',
    );
    expect(byCount.window).toEqual({ start: second, end: second + 60_000, final: true });
    const expCount = [...expected.get(second)!.entries()]
      .filter(([k]) => JSON.parse(k)[1] === 'web')
      .sort((a, b) => b[1].orders - a[1].orders || (a[0] < b[0] ? -1 : 1))
      .slice(0, 3);
    expect(byCount.groups.map((g: any) => [groupKey(g.group), g.value])).toEqual(
      expCount.map(([k, v]) => [k, v.orders]),
    );
    // by sketches: distinct users and the percentile
    const byUsers = await api200(
      `/api/v1/pipelines/${writer.name}/top?aggregate=users&window=${second}&limit=3`,
      '/api/v1/pipelines/{name}/top',
    );
    expect(byUsers.groups).toHaveLength(3);
    expect(byUsers.groups[0].value).toBeGreaterThanOrEqual(byUsers.groups[2].value);
    expect(byUsers.groups[0].values.users).toBe(byUsers.groups[0].value);
    const byP90 = await api200(
      `/api/v1/pipelines/${writer.name}/top?aggregate=p90&window=${second}&limit=2`,
      '/api/v1/pipelines/{name}/top',
    );
    const expP90 = [...expected.get(second)!.values()].map((g) => g.p90).sort((a, b) => b - a);
    closeTo(byP90.groups[0].value, expP90[0]!, 0.0101);
  });

  it('answers bad input with 4xx JSON errors, never 500', async () => {
    const n = writer.name;
    const w = '/api/v1/pipelines/{name}/windows';
    const t = '/api/v1/pipelines/{name}/top';
    await apiError('/api/v1/pipelines/nope/windows', w, 404, 'unknown_pipeline');
    await apiError('/api/v1/pipelines/nope/top?aggregate=orders', t, 404, 'unknown_pipeline');
    await apiError('/api/v1/pipelines/nope', '/api/v1/pipelines/{name}', 404, 'unknown_pipeline');
    await apiError(`/api/v1/pipelines/${n}/windows?colour=red`, w, 400, 'unknown_group_field');
    await apiError(`/api/v1/pipelines/${n}/windows?from=yesterday`, w, 400, 'invalid_time');
    await apiError(`/api/v1/pipelines/${n}/windows?from=2024-13-45T99:00:00Z`, w, 400, 'invalid_time');
    await apiError(`/api/v1/pipelines/${n}/windows?from=2&to=1`, w, 400, 'invalid_range');
    await apiError(`/api/v1/pipelines/${n}/windows?limit=0`, w, 400, 'invalid_limit');
    await apiError(`/api/v1/pipelines/${n}/windows?limit=abc`, w, 400, 'invalid_limit');
    await apiError(`/api/v1/pipelines/${n}/windows?limit=1&limit=2`, w, 400, 'invalid_parameter');
    await apiError(`/api/v1/pipelines/${n}/windows?cursor=garbage!`, w, 400, 'invalid_cursor');
    await apiError(`/api/v1/pipelines/${n}/windows?order=sideways`, w, 400, 'invalid_parameter');
    await apiError(`/api/v1/pipelines/${n}/windows?rollup=maybe`, w, 400, 'invalid_parameter');
    await apiError(`/api/v1/pipelines/${n}/top`, t, 400, 'invalid_parameter');
    await apiError(`/api/v1/pipelines/${n}/top?aggregate=nope`, t, 400, 'unknown_aggregate');
    await apiError(`/api/v1/pipelines/${n}/top?aggregate=topItems`, t, 400, 'unsupported_aggregate');
    await apiError(`/api/v1/pipelines/${n}/top?aggregate=firstItem`, t, 400, 'unsupported_aggregate');
    await apiError(
      `/api/v1/pipelines/${n}/top?aggregate=orders&window=${BASE + 1}`,
      t,
      404,
      'unknown_window',
    );
    await apiError(`/api/v1/pipelines/${n}/top?aggregate=orders&window=soon`, t, 400, 'invalid_time');
    await apiError(`/api/v1/pipelines/${n}/top?aggregate=orders&limit=100000`, t, 400, 'invalid_limit');
    await apiError(`/api/v1/pipelines/${n}/top?aggregate=orders&planet=mars`, t, 400, 'unknown_group_field');
    const missing = await get(api, '/api/v1/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const huge = await fetch(`${api.url}/api/v1/pipelines`, { method: 'POST', body: 'x'.repeat(20_000) });
    expect(huge.status).toBe(413);
    expect((await huge.json()).error.code).toBe('payload_too_large');
    const long = await get(api, `/api/v1/pipelines/${n}/windows?country=${'x'.repeat(9000)}`);
    expect(long.status).toBe(414);
    // a start no Date can hold: refused, not a 500 while writing the 404's message
    for (const window of ['9000000000000000', '-9000000000000000'])
      await apiError(`/api/v1/pipelines/${n}/top?aggregate=orders&window=${window}`, t, 400, 'invalid_time');
    await apiError(`/api/v1/pipelines/${n}/windows?from=9000000000000000`, w, 400, 'invalid_time');
  });

  it("does not answer for a replaying version's entry as if it were a pipeline", async () => {
    const registration = await redis.hget('kf:pipelines', writer.name);
    expect(registration).not.toBeNull();
    await redis.hset('kf:pipelines', `${writer.name}@pending`, registration!);
    try {
      await apiError(
        `/api/v1/pipelines/${writer.name}@pending`,
        '/api/v1/pipelines/{name}',
        404,
        'unknown_pipeline',
      );
      await apiError(
        `/api/v1/pipelines/${writer.name}@pending/windows`,
        '/api/v1/pipelines/{name}/windows',
        404,
        'unknown_pipeline',
      );
    } finally {
      await redis.hdel('kf:pipelines', `${writer.name}@pending`);
    }
  });

  it('counts dead letters of partitions whose records were all dead-lettered (no watermark)', async () => {
    const rejected = new PipelineWriter(redis, { partitions: 2 });
    await rejected.register();
    const before = await api200(`/api/v1/pipelines/${rejected.name}`, '/api/v1/pipelines/{name}');
    expect(before).toMatchObject({ watermark: null, late: null, deadLettered: null });
    await rejected.commit('0', [], { deadLettered: 5 });
    const after = await api200(`/api/v1/pipelines/${rejected.name}`, '/api/v1/pipelines/{name}');
    expect(after).toMatchObject({ watermark: null, late: 0, deadLettered: 5 });
  });

  it('serves openapi.json (a valid OpenAPI 3.1 document), metrics, health, readiness and the dashboard', async () => {
    const doc = await get(api, '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc.body);
    expect(result.valid, JSON.stringify(result.errors)).toBe(true);
    // the checker does reject what the document does not allow
    expect(() => validate('/api/v1/pipelines', 200, { pipelines: [{ name: 'x' }] })).toThrow(
      /does not match/,
    );
    expect(() => validate('/api/v1/pipelines/{name}/windows', 400, { error: { code: 1 } })).toThrow(
      /does not match/,
    );
    const health = await get(api, '/healthz');
    validate('/healthz', 200, health.body);
    const ready = await get(api, '/readyz');
    validate('/readyz', 200, ready.body);
    const notReady = await serve({ readiness: () => false });
    const nr = await get(notReady, '/readyz');
    expect(nr.status).toBe(503);
    validate('/readyz', 503, nr.body);
    const metrics = await get(api, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('kappaflow_http_requests_total');
    expect(metrics.body).toMatch(/route="\/api\/v1\/pipelines\/:name\/windows"/);
    const page = await get(api, '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.body).toContain('Kappaflow');
    const uplot = await get(api, '/assets/uplot.js');
    expect(uplot.status).toBe(200);
    expect(uplot.body).toContain('uPlot');
  });

  it('requires a bearer token when auth is on (from a token file), except for health checks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kf-tokens-'));
    writeFileSync(join(dir, 'tokens'), '# dashboard tokens\nsecret-one\n\n  secret-two  \n');
    const tokens = readTokenFile(join(dir, 'tokens'));
    expect([...tokens]).toEqual(['secret-one', 'secret-two']);
    const secured = await serve({ auth: { tokens } });
    await apiError('/api/v1/pipelines', '/api/v1/pipelines', 401, 'unauthorized', secured);
    await apiError('/api/v1/pipelines', '/api/v1/pipelines', 401, 'unauthorized', secured, {
      Authorization: 'Bearer wrong',
    });
    expect((await get(secured, '/metrics')).status).toBe(401);
    const ok = await get(secured, '/api/v1/pipelines', { Authorization: 'Bearer secret-two' });
    expect(ok.status).toBe(200);
    validate('/api/v1/pipelines', 200, ok.body);
    const viaQuery = await get(
      secured,
      `/api/v1/pipelines/${writer.name}/windows?limit=1&access_token=secret-one`,
    );
    expect(viaQuery.status).toBe(200);
    expect((await get(secured, '/healthz')).status).toBe(200);
    expect((await get(secured, '/readyz')).status).toBe(200);
    expect((await get(secured, '/openapi.json')).status).toBe(200);
    // and off: no token needed
    expect((await get(api, '/api/v1/pipelines')).status).toBe(200);
  });

  it('sends CORS headers only to allowed origins, and answers preflights', async () => {
    const withCors = await serve({ cors: { origins: ['https://grafana.example.com'] } });
    const allowed = await get(withCors, '/api/v1/pipelines', { Origin: 'https://grafana.example.com' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://grafana.example.com');
    const other = await get(withCors, '/api/v1/pipelines', { Origin: 'https://evil.example.com' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${withCors.url}/api/v1/pipelines`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://grafana.example.com',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
    const none = await get(api, '/api/v1/pipelines', { Origin: 'https://grafana.example.com' });
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('limits the request rate per client address', async () => {
    const limited = await serve({ rateLimit: { windowMs: 60_000, limit: 3 } });
    for (let i = 0; i < 3; i++) expect((await get(limited, '/api/v1/pipelines')).status).toBe(200);
    await apiError('/api/v1/pipelines', '/api/v1/pipelines', 429, 'rate_limited', limited);
    expect((await get(limited, '/healthz')).status).toBe(200);
  });

  it('streams a window event within one second of a commit', async () => {
    const stream = await openStream(`${api.url}/api/v1/pipelines/${writer.name}/stream`);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toContain('text/event-stream');
    const { events } = stream;
    const waitFor = (check: () => boolean, ms: number) => stream.waitFor(check, ms);
    expect(await waitFor(() => events.some((e) => e.event === 'ready'), 2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 600)); // let the poller take its baseline
    const time = BASE + 5 * 60_000 + 59_000;
    const committedAt = Date.now();
    await writer.commit('1', [{ time, country: 'DE', device: 'web', amount: 1, user: 'sse', item: 'fig' }]);
    expect(
      await waitFor(
        () => events.some((e) => e.event === 'window' && e.data.start === BASE + 5 * 60_000),
        1000,
      ),
    ).toBe(true);
    const windowEvent = events.find((e) => e.event === 'window')!;
    expect(windowEvent.at - committedAt).toBeLessThan(1000);
    expect(windowEvent.data).toMatchObject({
      pipeline: writer.name,
      version: 1,
      end: BASE + 6 * 60_000,
      final: false,
      partitions: ['1'],
    });
    expect(events.some((e) => e.event === 'progress')).toBe(true);
    await stream.close();
    await apiError(
      '/api/v1/pipelines/nope/stream',
      '/api/v1/pipelines/{name}/stream',
      404,
      'unknown_pipeline',
    );
  });
});

describe('Redis going away', () => {
  it('answers 503 while Redis is unreachable, instead of holding the request, and recovers', async () => {
    const own = await startRedis();
    const client = connectRedis(own.url);
    try {
      const local = new PipelineWriter(client, { partitions: 1 });
      await local.register();
      const server = await serve({}, client);
      const path = `/api/v1/pipelines/${local.name}`;
      expect((await get(server, path)).status).toBe(200);
      await own.stopNode(0, { kill: true });
      // every request gets an answer: 503 with a JSON error once the client noticed
      await waitUntil('a 503 while Redis is down', async () => (await get(server, path)).status === 503, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      const down = await get(server, path);
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('unavailable');
      expect(down.headers.get('retry-after')).toBe('1');
      expect((await get(server, '/healthz')).status).toBe(200);
      await own.startNode(0);
      await waitUntil(
        'answers again once Redis is back',
        async () => (await get(server, path)).status === 200,
        {
          timeoutMs: 90_000,
          intervalMs: 200,
        },
      );
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});

describe('live versions (?version=N, Kappa reprocessing)', () => {
  it('reads the replaying version on request, the active one by default; GET lists both', async () => {
    const name = `qv-${Date.now().toString(36)}`;
    const v1 = new PipelineWriter(redis, { name, partitions: 2 });
    const v2 = new PipelineWriter(redis, { name, partitions: 2 });
    (v2.registration as { activeVersion: number }).activeVersion = 2;
    await v2.register(); // claims version 2's partitions (and registers it for a moment)
    await v1.register(); // version 1 is the active one again
    expect(await offerVersion(redis, v2.registration)).toEqual({ state: 'catching-up', active: 1 });
    const events = randomEvents(7, { base: BASE, windows: 2, count: 60 });
    await v1.commit('0', events.slice(0, 40));
    await v2.commit('0', events.slice(0, 25));
    const total = async (qs: string) => {
      const body = await api200(
        `/api/v1/pipelines/${name}/windows?rollup=true${qs}`,
        '/api/v1/pipelines/{name}/windows',
      );
      let orders = 0;
      for (const w of body.windows) for (const g of w.groups) orders += g.values.orders ?? 0;
      return { version: body.version, orders };
    };
    expect(await total('')).toEqual({ version: 1, orders: 40 });
    expect(await total('&version=1')).toEqual({ version: 1, orders: 40 });
    expect(await total('&version=2')).toEqual({ version: 2, orders: 25 });
    const top = await api200(
      `/api/v1/pipelines/${name}/top?aggregate=orders&version=2`,
      '/api/v1/pipelines/{name}/top',
    );
    expect(top.version).toBe(2);
    await apiError(
      `/api/v1/pipelines/${name}/windows?version=3`,
      '/api/v1/pipelines/{name}/windows',
      404,
      'unknown_version',
    );
    await apiError(
      `/api/v1/pipelines/${name}/windows?version=two`,
      '/api/v1/pipelines/{name}/windows',
      400,
      'invalid_parameter',
    );
    const summary = await api200(`/api/v1/pipelines/${name}`, '/api/v1/pipelines/{name}');
    expect(summary.versions).toEqual([
      { version: 1, role: 'active', records: 40, watermark: expect.any(Number) },
      { version: 2, role: 'replaying', records: 25, watermark: expect.any(Number) },
    ]);
    const list = await api200('/api/v1/pipelines', '/api/v1/pipelines');
    expect(list.pipelines.find((p: { name: string }) => p.name === name).versions).toHaveLength(2);
  });
});
