// spec.enrich[].lookup.onMissing: what a record whose key has no entry in the lookup hash becomes.
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { redisEnrichment } from '../../../processor/src/consumer/enrich.ts';
import { foldBatch } from '../../../processor/src/consumer/fold-batch.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { NO_WATERMARK } from '../../../processor/src/windows/watermark.ts';

const base = Date.UTC(2026, 5, 1, 12, 0, 0);

function pipelineWith(onMissing: string, section = 'enriched.page') {
  const result = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: enrich-missing }
spec:
  source: { topic: clicks, eventTime: { field: ts } }
  enrich:
    - lookup: { redisHash: pages, key: event.page, as: page${onMissing ? `, onMissing: ${onMissing}` : ''} }
  groupBy: { section: "${section}" }
  window: { type: tumbling, size: 1m }
  aggregates: { n: { count: {} } }
`);
  expect(result.errors).toEqual([]);
  return toRuntimePipeline(result.pipelines[0]!, 1);
}

const messages = (pages: string[]): KafkaMessage[] =>
  pages.map(
    (page, i) =>
      ({
        offset: String(i),
        key: null,
        value: Buffer.from(JSON.stringify({ ts: base + i, page })),
        timestamp: String(base),
        attributes: 0,
        headers: {},
      }) as unknown as KafkaMessage,
  );

// the lookup hash holds only "/home"
const table = redisEnrichment(async (_hash, fields) => fields.map((f) => (f === '/home' ? 'news' : null)));

async function fold(onMissing: string, section?: string) {
  const folded = await foldBatch(
    pipelineWith(onMissing, section),
    'clicks',
    0,
    messages(['/home', '/gone', '/home']),
    NO_WATERMARK,
    table,
  );
  const groups = folded.fold.deltas().flatMap((d) => d.groups);
  return {
    groups,
    records: folded.fold.records,
    letters: folded.deadLetters.map((d) => [d.offset, d.reason]),
  };
}

describe('lookup onMissing', () => {
  it('keep (the default): the event goes on with enriched.<as> null, grouped as "null"', async () => {
    for (const onMissing of ['', 'keep']) {
      expect(await fold(onMissing)).toEqual({
        groups: ['["news"]', '["null"]'],
        records: 3,
        letters: [],
      });
    }
  });

  it('keep: has(enriched.<as>) is false for the missing entry', async () => {
    expect(await fold('keep', "has(enriched.page) ? enriched.page : 'unknown'")).toEqual({
      groups: ['["news"]', '["unknown"]'],
      records: 3,
      letters: [],
    });
  });

  it('skip: the event is left out, not dead-lettered', async () => {
    expect(await fold('skip')).toEqual({ groups: ['["news"]'], records: 2, letters: [] });
  });

  it('deadLetter: the event goes to the dead-letter topic with reason enrich', async () => {
    expect(await fold('deadLetter')).toEqual({
      groups: ['["news"]'],
      records: 2,
      letters: [['1', 'enrich']],
    });
  });
});
