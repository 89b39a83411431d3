/**
 * Where the commit script's time goes in Redis, for a workload-1-sized batch (one partition's
 * batch of 1 MB: ~10,000 records, one count and one sum field per record): the same HINCRBY /
 * HINCRBYFLOAT writes driven (a) by a JSON payload decoded with cjson, as commitBatch-1.lua does,
 * (b) by flat ARGV strings, and (c) the cjson decode alone. Server time from INFO commandstats.
 *
 *   node --import tsx bench/redis-payload.ts [--fields 10000] [--rounds 20]
 */
import { Redis } from 'ioredis';
import { startRedis } from '../harness/redis.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const FIELDS = arg('fields', 10_000);
const ROUNDS = arg('rounds', 20);

const jsonScript = `
local payload = cjson.decode(ARGV[1])
local hash = KEYS[1]
local inc = payload.i
for i = 1, #inc, 2 do redis.call('HINCRBY', hash, inc[i], inc[i + 1]) end
local sums = payload.f
for i = 1, #sums, 2 do redis.call('HINCRBYFLOAT', hash, sums[i], sums[i + 1]) end
return 1`;
const argvScript = `
local hash = KEYS[1]
local n = tonumber(ARGV[1])
local pos = 2
for i = pos, pos + 2 * n - 1, 2 do redis.call('HINCRBY', hash, ARGV[i], ARGV[i + 1]) end
pos = pos + 2 * n
n = tonumber(ARGV[pos])
pos = pos + 1
for i = pos, pos + 2 * n - 1, 2 do redis.call('HINCRBYFLOAT', hash, ARGV[i], ARGV[i + 1]) end
return 1`;
// Absolute values instead of increments: the partition's owner knows each field's value, so one
// variadic HSET (in chunks: Lua's unpack has a small stack) replaces a HINCRBY per field.
const absoluteScript = `
local hash = KEYS[1]
local step = 2000
for i = 1, #ARGV, step do
  redis.call('HSET', hash, unpack(ARGV, i, math.min(i + step - 1, #ARGV)))
end
return 1`;
const decodeOnly = `local payload = cjson.decode(ARGV[1]) return #payload.i`;

const deployment = await startRedis();
const redis = new Redis(deployment.url);
try {
  const inc: (string | number)[] = [];
  const sums: string[] = [];
  for (let k = 0; k < FIELDS; k++) {
    inc.push(`n|["k${k}"]`, 1 + (k % 3));
    sums.push(`total|["k${k}"]`, String((k * 7) % 1000));
  }
  const json = JSON.stringify({ i: inc, f: sums });
  const flat = [String(FIELDS), ...inc.map(String), String(FIELDS), ...sums];
  const absolute = [...inc.map(String), ...sums];
  const usec = async () => {
    const info = await redis.info('commandstats');
    return Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(info)?.[1] ?? 0);
  };
  const measure = async (name: string, script: string, args: string[]) => {
    const sha = (await redis.script('LOAD', script)) as string;
    const timings: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const key = `bench:payload:${name}:${r % 60}`; // like 60 windows: new fields and existing ones
      const before = await usec();
      await redis.evalsha(sha, 1, key, ...args);
      timings.push((await usec()) - before);
    }
    timings.sort((a, b) => a - b);
    const median = timings[Math.floor(timings.length / 2)]!;
    return { name, medianMsPerBatch: median / 1000, usPerRecord: median / FIELDS };
  };
  const results = [
    await measure('json', jsonScript, [json]),
    await measure('argv', argvScript, flat),
    await measure('cjson-decode-only', decodeOnly, [json]),
    await measure('json', jsonScript, [json]),
    await measure('argv', argvScript, flat),
    await measure('absolute-hset', absoluteScript, absolute),
  ];
  console.log(`${FIELDS} records (2 fields each) per batch, ${ROUNDS} batches, Redis ${deployment.url}`);
  console.table(results);
} finally {
  redis.disconnect();
  await deployment.stop();
}
