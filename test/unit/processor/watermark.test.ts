import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { noEnrichment, redisEnrichment } from '../../../processor/src/consumer/enrich.ts';
import { foldBatch } from '../../../processor/src/consumer/fold-batch.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { NO_WATERMARK } from '../../../processor/src/windows/watermark.ts';

const base = Date.UTC(2026, 5, 1, 12, 0, 0);

function pipelineWith(extra: string, window = '{ type: tumbling, size: 1m, grace: 1s }') {
  const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: wm }
spec:
  source: { topic: wm, eventTime: { field: ts } }
${extra}
  window: ${window}
  aggregates: { n: { count: {} } }
`);
  expect(result.errors).toEqual([]);
  return toRuntimePipeline(result.pipelines[0]!, 1);
}

const messages = (events: object[]): KafkaMessage[] =>
  events.map(
    (e, i) =>
      ({
        offset: String(i),
        key: Buffer.from(`k${i}`),
        value: Buffer.from(JSON.stringify(e)),
        timestamp: String(base),
        attributes: 0,
        headers: {},
      }) as KafkaMessage,
  );

describe('which records move the watermark', () => {
  it('records that where drops move it: a partition with only filtered records still gets a watermark', async () => {
    const pipeline = pipelineWith(`  where: "event.keep"`);
    const folded = await foldBatch(
      pipeline,
      'wm',
      0,
      messages([
        { ts: base + 5000, keep: false },
        { ts: base + 90_000, keep: false },
        { ts: base + 30_000, keep: false },
      ]),
      NO_WATERMARK,
      noEnrichment,
    );
    expect({
      watermark: folded.watermark,
      filtered: folded.filtered,
      dead: folded.deadLetters.length,
    }).toEqual({
      watermark: base + 90_000,
      filtered: 3,
      dead: 0,
    });
  });

  it('in offset order: a filtered record makes a later kept record late, an earlier one is on time', async () => {
    const pipeline = pipelineWith(`  where: "event.keep"`);
    const folded = await foldBatch(
      pipeline,
      'wm',
      0,
      messages([
        { ts: base + 10_000, keep: true }, // on time
        { ts: base + 120_000, keep: false }, // closes 12:00-12:01 (end + grace = 12:01:01 <= 12:02)
        { ts: base + 20_000, keep: true }, // late
        { ts: base + 121_000, keep: true }, // on time
      ]),
      NO_WATERMARK,
      noEnrichment,
    );
    expect(folded.deadLetters.map((d) => [d.offset, d.reason])).toEqual([['2', 'late']]);
    expect(folded.fold.records).toBe(2);
    expect(folded.watermark).toBe(base + 121_000);
  });

  it('the same with enrichment deferring the fold, and with a skipped enrichment', async () => {
    const pipeline = pipelineWith(`  enrich:
    - lookup: { redisHash: pages, key: event.page, as: page, onMissing: skip }`);
    const enrichment = redisEnrichment(async (_hash, fields) =>
      fields.map((f) => (f === 'known' ? '{}' : null)),
    );
    const folded = await foldBatch(
      pipeline,
      'wm',
      0,
      messages([
        { ts: base + 10_000, page: 'known' },
        { ts: base + 120_000, page: 'unknown' }, // skipped, but its time counts
        { ts: base + 20_000, page: 'known' }, // late: judged against the watermark before it
      ]),
      NO_WATERMARK,
      enrichment,
    );
    expect(folded.deadLetters.map((d) => [d.offset, d.reason])).toEqual([['2', 'late']]);
    expect(folded.watermark).toBe(base + 120_000);
  });

  it('a filtered record with an unreadable time is filtered, not a dead letter, and moves nothing', async () => {
    const pipeline = pipelineWith(`  where: "event.keep"`);
    const folded = await foldBatch(
      pipeline,
      'wm',
      0,
      messages([
        { ts: 'not a time', keep: false },
        { keep: false },
        { ts: base, keep: true },
        { ts: 'not a time', keep: true },
      ]),
      base - 1,
      noEnrichment,
    );
    expect(folded.filtered).toBe(2);
    expect(folded.deadLetters.map((d) => [d.offset, d.reason])).toEqual([['3', 'event-time']]);
    expect(folded.watermark).toBe(base);
  });

  it('records failing after their time was read (group-by, aggregate) move it too', async () => {
    const pipeline = pipelineWith(`  groupBy: { page: event.page }`);
    const folded = await foldBatch(
      pipeline,
      'wm',
      0,
      messages([{ ts: base + 90_000 }, { ts: base, page: 'a' }]),
      NO_WATERMARK,
      noEnrichment,
    );
    expect(folded.deadLetters.map((d) => [d.offset, d.reason])).toEqual([
      ['0', 'group-by'],
      ['1', 'late'],
    ]);
    expect(folded.watermark).toBe(base + 90_000);
  });

  it('session windows judge each record against the watermark before it', async () => {
    const pipeline = pipelineWith(
      `  where: "event.keep"\n  groupBy: { user: event.user }`,
      '{ type: session, gap: 10s, grace: 0s }',
    );
    const sessions = { load: async () => new Map() };
    const folded = await foldBatch(
      pipeline,
      'wm',
      0,
      messages([
        { ts: base, keep: true, user: 'u' },
        { ts: base + 60_000, keep: false, user: 'x' },
        { ts: base + 5000, keep: true, user: 'u' }, // its session (12:00:00-12:00:05, gap 10s) closed at 12:01
        { ts: base + 60_000, keep: true, user: 'u' },
      ]),
      NO_WATERMARK,
      noEnrichment,
      sessions,
    );
    expect(folded.deadLetters.map((d) => [d.offset, d.reason])).toEqual([['2', 'late']]);
    expect(folded.watermark).toBe(base + 60_000);
  });
});
