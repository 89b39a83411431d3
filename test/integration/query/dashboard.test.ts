import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveQueryApi } from '../../../harness/query-api.ts';
import { PipelineWriter, randomEvents, rng } from '../../../harness/query-fixture.ts';
import type { RunningServer } from '../../../processor/src/http/app.ts';
import { connectRedis, type RedisClient } from '../../../processor/src/state/connection.ts';
import { publishHeartbeat } from '../../../processor/src/state/replica-status.ts';

const CHROMIUM = '/usr/bin/chromium';

let redis: RedisClient;
let writer: PipelineWriter;
let api: RunningServer;
let browser: Browser;
let flowing = true;
let flow: Promise<void>;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error('Debian chromium is missing: apt-get install -y chromium');
  redis = connectRedis(inject('redisUrl'));
  writer = new PipelineWriter(redis, { name: `orders-live-${Date.now().toString(36)}`, partitions: 3 });
  await writer.register();
  // 20 minutes of history, then a live flow into the current window
  const now = Date.now();
  const base = now - (now % 60_000) - 20 * 60_000;
  const history = randomEvents(3, { base, windows: 20, count: 6000 }).sort((a, b) => a.time - b.time);
  await writer.commitSpread(history, 1000);
  api = await serveQueryApi(redis);
  const next = rng(99);
  let seq = 0;
  flow = (async () => {
    while (flowing) {
      const t = Date.now();
      const events = randomEvents(1000 + seq++, { base: t - 2000, windows: 0, count: 40 }).map((e) => ({
        ...e,
        time: t - Math.floor(next() * 2000),
      }));
      events.sort((a, b) => a.time - b.time);
      await writer.commitSpread(events);
      for (const [replica, partitions] of [
        ['proc-a', ['0', '1']],
        ['proc-b', ['2']],
      ] as const) {
        await publishHeartbeat(redis, writer.name, 1, {
          replica,
          at: Date.now(),
          partitions: [...partitions],
          recordsPerSecond: 180 + Math.round(next() * 40),
          lag: Object.fromEntries(partitions.map((p) => [p, Math.round(next() * 30)])),
          watermarks: {},
          ...({ late: 2 + seq, deadLettered: 1 + Math.floor(seq / 3) } as object),
        });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  flowing = false;
  await flow;
  await browser?.close();
  await api?.close();
  redis?.disconnect();
});

describe('live dashboard in headless Chromium', () => {
  it('shows the pipeline, the chart and the top groups, and the numbers change as commits flow', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, colorScheme: 'dark' });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${api.url}/?pipeline=${writer.name}`);
    await page.waitForFunction(
      () => document.getElementById('stat-records')?.textContent !== '—',
      undefined,
      { timeout: 10_000 },
    );
    await page.waitForSelector('#chart canvas', { timeout: 10_000 });
    await page.waitForSelector('#top-body tr td.rank', { timeout: 10_000 });
    expect(await page.locator('#live').getAttribute('data-state')).toBe('live');
    const records1 = await page.textContent('#stat-records');
    const current1 = await page.textContent('#current-value');
    // the page follows the commits through SSE, with no reload
    await page.waitForFunction(
      ([r, c]) =>
        document.getElementById('stat-records')?.textContent !== r &&
        document.getElementById('current-value')?.textContent !== c,
      [records1, current1] as const,
      { timeout: 10_000 },
    );
    expect(await page.textContent('#stat-replicas')).toBe('2');
    expect(await page.textContent('#stat-late')).not.toBe('—');
    expect(await page.textContent('#stat-dead')).not.toBe('—');
    expect(await page.locator('#windows-body tr').count()).toBeGreaterThan(5);
    expect(await page.locator('#top-body tr').count()).toBe(10);
    // offline: every request stays on the API's own origin (no CDN)
    expect(requests.every((u) => u.startsWith(api.url))).toBe(true);
    expect(errors).toEqual([]);
    await new Promise((r) => setTimeout(r, 800));
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true });
    const light = await browser.newPage({ viewport: { width: 1440, height: 1000 }, colorScheme: 'light' });
    await light.goto(`${api.url}/?pipeline=${writer.name}&aggregate=revenue`);
    await light.waitForSelector('#top-body tr td.rank', { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 800));
    await light.screenshot({ path: 'test-output/dashboard-light.png', fullPage: true });
  });
});
