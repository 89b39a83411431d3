// Every shipped example validates unchanged, with the expected normalized shape.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { formatSpecError } from '../../../processor/src/spec/errors.ts';
import { validateFile, validateText } from '../../../processor/src/spec/validate.ts';

const examples = join(import.meta.dirname, '../../../examples');
const files = readdirSync(examples).filter((f) => /\.ya?ml$/.test(f));

describe('examples', () => {
  it('exist', () => expect(files.length).toBeGreaterThanOrEqual(3));

  it.each(files)('%s validates', async (file) => {
    const r = await validateFile(join(examples, file));
    expect(r.errors.map(formatSpecError)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.pipelines.length).toBeGreaterThanOrEqual(1);
  });

  it('normalizes page-views with durations in ms and defaults applied', async () => {
    const r = await validateFile(join(examples, 'page-views.yaml'));
    const n = r.pipelines[0]?.normalized;
    expect(n?.name).toBe('page-views');
    expect(n?.window).toEqual({ type: 'tumbling', sizeMs: 60_000, graceMs: 10_000 });
    expect(n?.retentionMs).toBe(7 * 24 * 3600_000);
    expect(n?.source).toEqual({
      topics: ['page-views'],
      format: 'json',
      eventTime: { field: 'ts', path: ['ts'], format: 'auto' },
      startFrom: 'earliest',
    });
    expect(n?.groupBy.map((g) => g.name)).toEqual(['page', 'country']);
    expect(n?.aggregates).toContainEqual({
      name: 'p95_latency',
      op: 'percentile',
      expr: 'event.latency_ms',
      q: 0.95,
      accuracy: 0.01,
    });
    expect(n?.aggregates).toContainEqual({ name: 'top_referrers', op: 'topK', expr: 'event.referrer', k: 5 });
    expect(n?.scaling).toMatchObject({
      mode: 'auto',
      minReplicas: 1,
      maxReplicas: 12,
      lagThreshold: 5000,
      scaleDownStabilizationMs: 300_000,
    });
    expect(n?.deadLetterTopic).toBe('page-views.dlq');
    expect(n?.logicFingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('normalizes hopping and session windows', async () => {
    const hop = await validateFile(join(examples, 'orders-hopping.yaml'));
    expect(hop.pipelines[0]?.normalized.window).toEqual({
      type: 'hopping',
      sizeMs: 900_000,
      advanceMs: 60_000,
      graceMs: 30_000,
    });
    expect(hop.pipelines[0]?.normalized.enrich).toEqual([
      { redisHash: 'merchants:region', key: 'event.merchant_id', as: 'region', onMissing: 'keep' },
    ]);
    const ses = await validateFile(join(examples, 'sessions.yaml'));
    expect(ses.pipelines[0]?.normalized.window).toEqual({
      type: 'session',
      gapMs: 1_800_000,
      graceMs: 60_000,
    });
  });

  it('validates all examples in one multi-document file and skips foreign documents', async () => {
    const { readFile } = await import('node:fs/promises');
    const texts = await Promise.all(files.map((f) => readFile(join(examples, f), 'utf8')));
    const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: {}\n';
    const r = validateText([...texts, configMap].join('\n---\n'), 'all.yaml');
    expect(r.errors).toEqual([]);
    expect(r.pipelines.map((p) => p.normalized.name).sort()).toEqual([
      'merchant-revenue',
      'page-views',
      'user-sessions',
    ]);
    expect(r.skipped).toBe(1);
    // Lines point at each document's start.
    expect(r.pipelines[0]?.line).toBeGreaterThanOrEqual(1);
  });

  it('changes the logic fingerprint only when results would change', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(join(examples, 'page-views.yaml'), 'utf8');
    const fp = (t: string) => validateText(t).pipelines[0]?.normalized.logicFingerprint;
    const base = fp(text);
    expect(fp(text.replace('maxReplicas: 12', 'maxReplicas: 20'))).toBe(base);
    expect(fp(text.replace('retention: 7d', 'retention: 30d'))).toBe(base);
    expect(fp(text.replace('size: 1m', 'size: 5m'))).not.toBe(base);
    expect(fp(text.replace('"event.status < 500"', '"event.status < 400"'))).not.toBe(base);
    // the top-N index is kept per version: another rankBy builds its own
    const ranking = (list: string) => fp(text.replace('retention: 7d', `retention: 7d\n  rankBy: ${list}`));
    expect(ranking('[bytes]')).not.toBe(base);
    expect(ranking('[views, bytes]')).not.toBe(base);
    expect(ranking('[]')).not.toBe(base);
    // writing out the default (the count aggregates) is the same logic
    expect(ranking('[views]')).toBe(base);
    // ... and a Deployment that an earlier release annotated for it (rankBy counted as written)
    // keeps its version: the earlier fingerprint goes along
    const earlier = (t: string) => validateText(t).pipelines[0]?.normalized.earlierFingerprints;
    expect(earlier(text)).toEqual([]);
    expect(earlier(text.replace('retention: 7d', 'retention: 7d\n  rankBy: [bytes]'))).toEqual([]);
    const writtenOut = earlier(text.replace('retention: 7d', 'retention: 7d\n  rankBy: [views]'));
    // what the release before this rule (2b7081e) computed for these two specs
    expect(writtenOut).toEqual(['4fbc78d8b529b16a']);
    // session windows keep no index: rankBy changes nothing there
    const sessions = await readFile(join(examples, 'sessions.yaml'), 'utf8');
    const sessionsRanked = sessions.replace('aggregates:', 'rankBy: []\n  aggregates:');
    expect(validateText(sessionsRanked).errors).toEqual([]);
    expect(fp(sessionsRanked)).toBe(fp(sessions));
    expect(earlier(sessionsRanked)).toEqual(['202c8412a25de652']);
    // so are whole hopping windows' rankings (an index kept from the first batch or not at all)
    const hopping = await readFile(join(examples, 'orders-hopping.yaml'), 'utf8');
    const whole = (on: boolean) => hopping.replace('type: hopping', `type: hopping, rankWholeWindows: ${on}`);
    expect(fp(whole(true))).not.toBe(fp(hopping));
    expect(fp(whole(false))).toBe(fp(hopping));
  });

  it('ranks the count aggregates from an index by default, or the ones spec.rankBy lists', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(join(examples, 'page-views.yaml'), 'utf8');
    const compiled = (t: string) => {
      const r = validateText(t);
      expect(r.errors).toEqual([]);
      return toRuntimePipeline(r.pipelines[0]!, 1);
    };
    const counts = compiled(text).aggregates.filter((a) => a.kind === 'count');
    expect(counts.length).toBeGreaterThan(0);
    expect(compiled(text).rankBy).toEqual(counts.map((a) => a.name));
    expect(compiled(text.replace('retention: 7d', 'retention: 7d\n  rankBy: []')).rankBy).toEqual([]);
    const sum = compiled(text).aggregates.find((a) => a.kind === 'sum')!;
    expect(compiled(text.replace('retention: 7d', `retention: 7d\n  rankBy: [${sum.name}]`)).rankBy).toEqual([
      sum.name,
    ]);
  });
});
