import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateText } from '../../../processor/src/spec/validate.ts';

const broken = readFileSync(join(import.meta.dirname, 'broken', 'redis-url-password.yaml'), 'utf8');
const withUrl = (url: string) => validateText(broken.replace('redis://user:secret@redis:6379', url));

describe('spec.redis.url with Redis Sentinel', () => {
  it('accepts Sentinels and a master name, with TLS and a db', () => {
    expect(withUrl('redis+sentinel://s-0:26379,s-1:26379,s-2/mymaster').errors).toEqual([]);
    expect(withUrl('rediss+sentinel://s-0:26379/mymaster?db=2').errors).toEqual([]);
  });

  it('refuses credentials, a missing master name and unknown parameters', () => {
    const message = (url: string) =>
      withUrl(url)
        .errors.map((e) => `${e.path}: ${e.message}`)
        .join('\n');
    expect(message('redis+sentinel://:pw@s-0:26379/mymaster')).toMatch(/spec\.redis\.url: .*credentials/);
    expect(message('redis+sentinel://s-0:26379')).toMatch(
      /redis\+sentinel:\/\/host:port,host:port\/<masterName>/,
    );
    expect(message('redis+sentinel://s-0:26379/m?timeout=3')).toMatch(/spec\.redis\.url/);
  });
});
