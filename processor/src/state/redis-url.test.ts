import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterUrl, parseRedisUrl, redactUrl } from './redis-url.ts';

describe('clusterUrl (a spec.redis.url with cluster: true)', () => {
  it('keeps TLS: rediss:// becomes rediss-cluster://', () => {
    expect(clusterUrl('rediss://r:6380')).toBe('rediss-cluster://r:6380');
    expect(parseRedisUrl(clusterUrl('rediss://r:6380'))).toEqual({
      kind: 'cluster',
      nodes: [{ host: 'r', port: 6380 }],
      tls: true,
    });
    expect(clusterUrl('redis://r:6379')).toBe('redis-cluster://r:6379');
  });
});

describe('parseRedisUrl', () => {
  it('reads single nodes and clusters', () => {
    expect(parseRedisUrl('redis://r:6379/2')).toEqual({
      kind: 'single',
      url: 'redis://r:6379/2',
      tls: false,
    });
    expect(parseRedisUrl('rediss://r:6380').tls).toBe(true);
    expect(parseRedisUrl('redis-cluster://a:1,b')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 1 },
        { host: 'b', port: 6379 },
      ],
      tls: false,
    });
    expect(parseRedisUrl('rediss-cluster://a:1').tls).toBe(true);
  });

  it('reads Sentinel addresses with password, master name and db', () => {
    expect(parseRedisUrl('redis+sentinel://:p%40ss@s1:26380,s2/mymaster?db=3')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
      ],
      masterName: 'mymaster',
      db: 3,
      password: 'p@ss',
      tls: false,
    });
    expect(parseRedisUrl('rediss+sentinel://s1:1/m')).toMatchObject({ tls: true, db: 0, masterName: 'm' });
  });

  it('refuses what it cannot read, saying what it expects and never showing the password', () => {
    expect(() => parseRedisUrl('redis+sentinel://:secret@s1:1')).toThrow(/masterName/);
    expect(() => parseRedisUrl('redis+sentinel://:secret@s1:1')).not.toThrow(/secret/);
    expect(() => parseRedisUrl('redis+sentinel://s1:1/m?db=x')).toThrow(/db=<0-99>/);
    expect(() => parseRedisUrl('redis+sentinel://s1:99999/m')).toThrow(/bad host:port/);
    expect(() => parseRedisUrl('redis-cluster://')).toThrow(/no nodes/);
    expect(() => parseRedisUrl('http://x')).toThrow(/redis\+sentinel:\/\//);
  });

  it('gives back every Sentinel, the master name and the db it was given', () => {
    const host = fc.stringMatching(/^[a-z0-9.-]{1,20}$/);
    const port = fc.integer({ min: 1, max: 65535 });
    fc.assert(
      fc.property(
        fc.array(fc.record({ host, port }), { minLength: 1, maxLength: 5 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/),
        fc.integer({ min: 0, max: 99 }),
        fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
        fc.boolean(),
        (sentinels, masterName, db, password, tls) => {
          const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
          const list = sentinels.map((s) => `${s.host}:${s.port}`).join(',');
          const url = `${tls ? 'rediss' : 'redis'}+sentinel://${auth}${list}/${masterName}?db=${db}`;
          expect(parseRedisUrl(url)).toEqual({
            kind: 'sentinel',
            sentinels,
            masterName,
            db,
            ...(password === undefined ? {} : { password }),
            tls,
          });
          if (password !== undefined) expect(redactUrl(url)).not.toContain(auth);
        },
      ),
    );
  });
});
