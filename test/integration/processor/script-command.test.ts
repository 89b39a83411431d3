// Lua script calls encoded in one Buffer (state/script-command.ts) against a real Redis: binary and
// text arguments arrive byte for byte, and a script cache emptied under the client (a restarted
// Redis) is refilled by the NOSCRIPT fallback.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defineLuaCommands } from '../../../processor/src/state/lua.ts';

type EchoClient = Redis & {
  echoArgs(key: string, ...args: (string | Buffer | (string | Buffer)[])[]): Promise<Buffer[]>;
};

describe('script calls encoded in one Buffer', () => {
  let redis: EchoClient;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kf-script-command-'));
    // returns its key and every argument as given
    writeFileSync(
      join(dir, 'echoArgs-1.lua'),
      'local out = { KEYS[1] }\nfor i = 1, #ARGV do out[#out + 1] = ARGV[i] end\nreturn out\n',
    );
    redis = new Redis(inject('redisUrl')) as EchoClient;
    defineLuaCommands(redis, dir);
  });
  afterAll(async () => {
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands the script every argument byte for byte, Buffers and any text (property)', async () => {
    const argument = fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.string(),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(argument, { maxLength: 30 }),
        fc.array(argument, { maxLength: 30 }),
        async (flat, nested) => {
          const key = `t:{echo-${randomUUID()}}`;
          const reply = await (redis as unknown as { echoArgsBuffer: EchoClient['echoArgs'] }).echoArgsBuffer(
            key,
            ...flat,
            nested,
          );
          const bytes = (x: string | Buffer) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x);
          expect(reply.map((b) => b.toString('hex'))).toEqual(
            [key, ...flat, ...nested].map((x) => bytes(x).toString('hex')),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('loads the script again after Redis lost it (NOSCRIPT)', async () => {
    const key = `t:{echo-${randomUUID()}}`;
    const hll = Buffer.from([0x48, 0x59, 0x4c, 0x4c, 1, 0, 0x80, 0xff]);
    const first = await (redis as unknown as { echoArgsBuffer: EchoClient['echoArgs'] }).echoArgsBuffer(
      key,
      hll,
    );
    expect(first[1]!.equals(hll)).toBe(true);
    await redis.script('FLUSH');
    const again = await (redis as unknown as { echoArgsBuffer: EchoClient['echoArgs'] }).echoArgsBuffer(
      key,
      'x',
      hll,
    );
    expect(again.slice(1).map((b) => b.toString('hex'))).toEqual([
      Buffer.from('x').toString('hex'),
      hll.toString('hex'),
    ]);
  });
});
