/**
 * Load script for the query API (not a test): 10,000 groups in one window over 3 partitions,
 * written by the processor's own commit path, then autocannon on loopback for a bounded time per
 * endpoint. Prints requests/s and p99 latency.
 *
 *   node --import tsx bench/query-load.ts [--duration 10] [--connections 10] [--no-cache] [--hopping [--whole-window-ranks]] [--whole-amounts] [--no-rollups] [--sketch-keys] [--rank-percentile] [--events-per-group 1] [--only rollup,filtered]
 *
 * --hopping keeps the groups in a hopping window of 1 min every 10 s (stream slicing: the events
 * spread over 5 slices of 10 s, and the window read is merged from its slices) instead of one
 * tumbling minute. Every request names the window starting at the first event, which holds all
 * 10,000 groups either way, so the two runs read the same answers. One endpoint instead asks for 3
 * groups over every window with state, as the freshness benchmark's probe does (with --hopping,
 * each slice is then a part of several of the windows read).
 *
 * --whole-window-ranks (with --hopping): as spec.window.rankWholeWindows, the commits also keep the
 * window-level ranking sets of the ranked counts, min and max, which `top` then reads, and each
 * window's set of groups, which the group counts of `top` and rollups read.
 *
 * --whole-amounts writes the amounts as whole cents (as money is often kept) instead of fractions:
 * with --whole-window-ranks, hopping windows then keep a window-level ranking of the ranked sum too.
 *
 * --no-rollups writes neither the rollup totals nor the top-N index (rollups and top scan the groups).
 *
 * --sketch-keys writes distinct sets and percentile sketches as per-group keys (the layout before
 * owners packed them into the window and slice hashes, window.packedSketches).
 *
 * --rank-percentile lists the percentile in spec.rankBy: the owners index each part's upper bound
 * of it, which `top` by the percentile reads (without it, that `top` reads every group).
 *
 * --events-per-group N gives each group N events per partition (default 1), with amounts around
 * a scale of its own (as each endpoint of a service has its own latencies), so each partition's
 * sketch of a group holds N values rather than one.
 *
 * --only runs just the endpoints whose label contains one of the comma-separated words.
 *
 * Per endpoint it also prints where the time went: Redis CPU (INFO cpu) and the commands Redis ran
 * (INFO commandstats, a script's inner calls included) per request, and this process's CPU per
 * request (the API server and autocannon's client side together).
 *
 * --no-cache turns off the query API's in-memory caches, so every request reads Redis (as under
 * constant ingestion, when every partition commits between two requests).
 */

// autocannon: HTTP load generator (dev dependency, used only by this script)
import autocannon from 'autocannon';
import { Registry } from 'prom-client';
import { PipelineWriter, rng } from '../harness/query-fixture.ts';
import { startRedis } from '../harness/redis.ts';
import { createHttpApp, startHttpServer } from '../processor/src/http/app.ts';
import { connectRedis } from '../processor/src/state/connection.ts';
import { commandStats, statsDelta } from './measure.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const duration = arg('duration', 10);
const connections = arg('connections', 10);
const GROUPS = 10_000;
const cache = !process.argv.includes('--no-cache');
const hopping = process.argv.includes('--hopping');
const rollups = !process.argv.includes('--no-rollups');
const wholeWindowRanks = process.argv.includes('--whole-window-ranks');
const wholeAmounts = process.argv.includes('--whole-amounts');
const packedSketches = !process.argv.includes('--sketch-keys');
const rankPercentile = process.argv.includes('--rank-percentile');
const eventsPerGroup = arg('events-per-group', 1);
const only = process.argv.includes('--only')
  ? process.argv[process.argv.indexOf('--only') + 1]!.split(',')
  : undefined;

const deployment = await startRedis();
const redis = connectRedis(deployment.url);
try {
  const writer = new PipelineWriter(redis, {
    name: 'bench',
    partitions: 3,
    groupBy: ['user'],
    // committed as the consumer loop commits: by each partition's owner (absolute values, and the
    // window-level group sets of hopping windows that only the owner can work out)
    owner: true,
    ...(rankPercentile ? { rankBy: ['orders', 'revenue', 'minAmount', 'maxAmount', 'p90'] } : {}),
    // the window shape the processor registers (runtime/compile.ts); --no-rollups: the layout before
    // write-side rollups and the top-N index, whose rollups and top scan every group
    window: hopping
      ? {
          type: 'hopping',
          sizeMs: 60_000,
          advanceMs: 10_000,
          sliceMs: 10_000,
          graceMs: 5_000,
          rollups,
          ranks: rollups,
          rankWholeWindows: wholeWindowRanks,
          packedSketches,
        }
      : { type: 'tumbling', sizeMs: 60_000, graceMs: 5_000, rollups, ranks: rollups, packedSketches },
  });
  await writer.register();
  const base = Date.UTC(2024, 0, 1);
  const next = rng(1);
  const items = ['apple', 'pear', 'plum', 'kiwi', 'fig', 'lime'];
  // every group gets 3 events, one per partition, so every group is merged from 3 partials
  const started = Date.now();
  const writeStats = await commandStats(redis);
  // (drawn only with --events-per-group, so that the default run's amounts stay as before)
  const scales = eventsPerGroup > 1 ? Array.from({ length: GROUPS }, () => 0.1 + next()) : [];
  const amountOf = (g: number) => {
    const x = eventsPerGroup > 1 ? scales[g]! * (0.5 + next()) * 0.5 : next();
    return wholeAmounts ? Math.round(x * 10_000) : Math.round(x * 10_000) / 100;
  };
  for (let p = 0; p < 3; p++) {
    const events = Array.from({ length: GROUPS * eventsPerGroup }, (_, i) => {
      const g = i % GROUPS;
      return {
        time: base + g * 5 + p,
        country: 'DE',
        device: 'web',
        amount: amountOf(g),
        user: `user-${g}`,
        item: items[Math.floor(next() * items.length)]!,
      };
    });
    for (let i = 0; i < events.length; i += 2500) await writer.commit(String(p), events.slice(i, i + 2500));
  }
  const written = statsDelta(writeStats, await commandStats(redis));
  console.log(
    `wrote ${GROUPS} groups x 3 partitions in ${Date.now() - started} ms (Redis CPU ${(written.redisCpuSeconds * 1000).toFixed(0)} ms, commit script ${(written.evalshaSeconds * 1000).toFixed(0)} ms)`,
  );

  const app = createHttpApp({
    redis,
    registry: new Registry(),
    readiness: () => true,
    logger: { info() {}, warn() {}, error() {}, debug() {} },
    rateLimit: false,
    queryCache: cache,
  });
  const server = await startHttpServer(app, 0, '127.0.0.1');
  // the window starting at the first event (base is a whole minute): all groups, tumbling or hopping
  const windows = `/api/v1/pipelines/bench/windows?from=${base}&to=${base + 1}`;
  const top = `/api/v1/pipelines/bench/top?window=${base}`;
  const targets = [
    ['windows (page of 1000 groups)', `${windows}&limit=1000`],
    ['windows (one group, filtered)', `${windows}&user=user-4242`],
    // as the freshness probe asks: a few groups, every window with state (hopping: each slice is
    // a part of several windows)
    [
      'windows (3 groups, filtered, every window)',
      `/api/v1/pipelines/bench/windows?user=user-4242&user=user-17&user=user-9001&limit=1000`,
    ],
    ['windows (rollup of 10,000 groups)', `${windows}&rollup=true`],
    ['top 10 by sum', `${top}&aggregate=revenue&limit=10`],
    ['top 10 by count', `${top}&aggregate=orders&limit=10`],
    ['top 10 by percentile (sketches)', `${top}&aggregate=p90&limit=10`],
  ] as const;
  // the same answer either way: user-4242 has 3 orders (one per partition) in the window read
  const one = (await (await fetch(`${server.url}${windows}&user=user-4242`)).json()) as {
    windows: { groups: { values: { orders: number } }[] }[];
  };
  const orders = one.windows[0]?.groups[0]?.values.orders;
  if (orders !== 3 * eventsPerGroup)
    throw new Error(`user-4242: expected ${3 * eventsPerGroup} orders in the window, got ${orders}`);
  const rows: string[] = [];
  for (const [label, path] of targets) {
    if (only && !only.some((word) => label.includes(word))) continue;
    const check = await fetch(`${server.url}${path}`);
    if (check.status !== 200) throw new Error(`${path}: ${check.status} ${await check.text()}`);
    const bytes = (await check.arrayBuffer()).byteLength;
    const before = await commandStats(redis);
    const cpu = process.cpuUsage();
    const result = await autocannon({ url: `${server.url}${path}`, connections, duration });
    const used = process.cpuUsage(cpu);
    const redisUse = statsDelta(before, await commandStats(redis));
    const n = Math.max(1, result.requests.total);
    const cost = `Redis ${((redisUse.redisCpuSeconds * 1000) / n).toFixed(2)} ms CPU, ${(redisUse.total / n).toFixed(1)} cmds; node ${((used.user + used.system) / 1000 / n).toFixed(2)} ms CPU per req`;
    const line = `${label.padEnd(36)} ${result.requests.average.toFixed(1).padStart(8)} req/s   p50 ${String(result.latency.p50).padStart(5)} ms   p99 ${String(result.latency.p99).padStart(5)} ms   ${(bytes / 1024).toFixed(0)} KiB/resp   non-2xx ${result.non2xx}   timeouts ${result.timeouts}   ${cost}`;
    console.log(line);
    const commands = Object.entries(redisUse.byCommand)
      .sort(([, a], [, b]) => b - a)
      .map(
        ([cmd, calls]) =>
          `${cmd} ${(calls / n).toFixed(1)} (${((redisUse.usecByCommand[cmd] ?? 0) / n).toFixed(0)} µs)`,
      );
    console.log(`  Redis commands per request: ${commands.join(', ')}`);
    rows.push(line);
  }
  console.log(
    `\n${connections} connections, ${duration}s per endpoint, loopback, ${GROUPS} groups, 3 partitions, query cache ${cache ? 'on' : 'off'}, write-side rollups ${rollups ? 'on' : 'off'}, ${hopping ? `hopping 1m/10s (sliced${wholeWindowRanks ? ', whole-window ranks' : ''})` : 'tumbling 1m'} window\n${rows.join('\n')}`,
  );
  await server.close();
} finally {
  redis.disconnect();
  await deployment.stop();
}
