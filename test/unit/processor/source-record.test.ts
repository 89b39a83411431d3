// A session window's second stage reads the repartition copy of each record. Expressions
// (`record.*`) and dead letters must see the source record there, as the first stage did.
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { noEnrichment } from '../../../processor/src/consumer/enrich.ts';
import { type FoldedBatch, foldBatch } from '../../../processor/src/consumer/fold-batch.ts';
import { keyDecoderFor } from '../../../processor/src/consumer/formats/key-decoder.ts';
import { valueDecoderFor } from '../../../processor/src/consumer/formats/value-decoder.ts';
import { repartitionRecordOf } from '../../../processor/src/consumer/repartition.ts';
import type { RuntimePipeline } from '../../../processor/src/model/pipeline.ts';
import { toRuntimePipeline } from '../../../processor/src/runtime/compile.ts';
import { validateText } from '../../../processor/src/spec/validate.ts';
import { groupKeyOf } from '../../../processor/src/state/keys.ts';
import { NO_WATERMARK } from '../../../processor/src/windows/watermark.ts';

const CHECK =
  "record.topic == 'clicks-eu' && record.partition == 3 && record.offset == '42' && record.key == 'k1' && record.headers.h == 'x' && !('kf-source-topic' in record.headers)";

function pipelineWith(where: string) {
  const r = validateText(`apiVersion: kappaflow.io/v1alpha1
kind: Pipeline
metadata: { name: sessions }
spec:
  source: { topics: [clicks-eu, clicks-us], eventTime: { field: ts } }
  where: "${where}"
  groupBy: { topic: record.topic, partition: record.partition, h: record.headers.h }
  window: { type: session, gap: 30m }
  aggregates: { n: { count: {} } }
`);
  expect(r.errors).toEqual([]);
  return toRuntimePipeline(r.pipelines[0]!, 1);
}

function source(value: string, offset: string): KafkaMessage {
  return {
    key: Buffer.from('k1'),
    value: Buffer.from(value),
    timestamp: '1700000000000',
    attributes: 0,
    offset,
    headers: { h: Buffer.from('x') },
  } as KafkaMessage;
}

/** The repartition record as the second stage reads it back: header values come back as bytes. */
function readBack(message: Message, offset: string): KafkaMessage {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(message.headers ?? {}))
    headers[name] = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
  return {
    key: message.key === null || message.key === undefined ? null : Buffer.from(message.key),
    value: message.value as Buffer,
    timestamp: String(message.timestamp),
    attributes: 0,
    offset,
    headers,
  } as KafkaMessage;
}

/** The first stage's copy of a source record, and the second stage's fold of it (read back at offset 7). */
async function throughBothStages(
  pipeline: RuntimePipeline,
  topic: string,
  partition: number,
  message: KafkaMessage,
): Promise<{ copy: Message; folded: FoldedBatch }> {
  const decoders = [valueDecoderFor(pipeline.source), keyDecoderFor(pipeline.source)] as const;
  const copy = repartitionRecordOf(pipeline, ...decoders, topic, partition, message);
  const rekeyed = { ...pipeline, source: { ...pipeline.source, topics: ['repartition'], rekeyed: true } };
  const noSessions = { load: async () => [] } as never;
  const folded = await foldBatch(
    rekeyed,
    'repartition',
    0,
    [readBack(copy, '7')],
    NO_WATERMARK,
    noEnrichment,
    noSessions,
  );
  return { copy, folded };
}

describe("a session window's second stage", () => {
  it('shows expressions the source record: topic, partition, offset, key and headers', async () => {
    const pipeline = pipelineWith(CHECK);
    const { copy, folded } = await throughBothStages(
      pipeline,
      'clicks-eu',
      3,
      source('{"ts": 1700000000000}', '42'),
    );
    // the first stage keys by the group it computed from the source record
    expect(copy.key).toBe(groupKeyOf(['clicks-eu', '3', 'x']));
    expect(folded.deadLetters).toEqual([]);
    expect(folded.filtered).toBe(0);
    expect(folded.fold.records).toBe(1);
  });

  it('dead-letters with the source place, key and headers', async () => {
    const pipeline = pipelineWith('true');
    const { folded } = await throughBothStages(pipeline, 'clicks-us', 5, source('not json', '99'));
    expect(folded.deadLetters).toHaveLength(1);
    const [letter] = folded.deadLetters;
    expect(letter).toMatchObject({ topic: 'clicks-us', partition: 5, offset: '99', reason: 'parse' });
    expect(letter!.key?.toString()).toBe('k1');
    expect(Object.keys(letter!.headers)).toEqual(['h']);
  });
});
