import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCommittedFilterInstalled, withoutAbortedRecords } from './read-committed.ts';

interface LogRecord {
  offset: string;
  key: Buffer | null;
  isControlRecord: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
  /** the test's own bookkeeping: which transaction wrote it (null: not transactional) */
  txn: number | null;
}

const marker = (type: 0 | 1) => {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(type, 2);
  return key;
};

/**
 * A partition's log written by several transactional producers at once (plus plain ones), each
 * transaction ending in a commit or abort marker, as a broker stores it; and what the broker sends
 * with a fetch from `start`: the aborted transactions that end at or after it, in any order.
 */
function buildLog(steps: { producer: number; abort: boolean; close: boolean }[]) {
  const log: LogRecord[] = [];
  const open = new Map<number, { txn: number; abort: boolean; first: number }>();
  const aborted: { firstOffset: string; producerId: string; end: number }[] = [];
  const abortedTxns = new Set<number>();
  let txns = 0;
  const close = (producer: number) => {
    const t = open.get(producer)!;
    const offset = log.length;
    log.push({
      offset: String(offset),
      key: marker(t.abort ? 0 : 1),
      isControlRecord: true,
      batchContext: { producerId: String(producer), inTransaction: true },
      txn: t.txn,
    });
    if (t.abort) {
      aborted.push({ firstOffset: String(t.first), producerId: String(producer), end: offset });
      abortedTxns.add(t.txn);
    }
    open.delete(producer);
  };
  for (const step of steps) {
    if (step.producer === 9) {
      log.push({
        offset: String(log.length),
        key: null,
        isControlRecord: false,
        batchContext: { producerId: '-1', inTransaction: false },
        txn: null,
      });
      continue;
    }
    if (open.has(step.producer) && step.close) {
      close(step.producer);
      continue;
    }
    if (!open.has(step.producer))
      open.set(step.producer, { txn: txns++, abort: step.abort, first: log.length });
    log.push({
      offset: String(log.length),
      key: Buffer.from('k'),
      isControlRecord: false,
      batchContext: { producerId: String(step.producer), inTransaction: true },
      txn: open.get(step.producer)!.txn,
    });
  }
  for (const producer of [...open.keys()]) close(producer);
  return { log, aborted, abortedTxns };
}

describe('withoutAbortedRecords (read_committed for kafkajs)', () => {
  it('keeps exactly the records of committed transactions and plain records, from any fetch offset and list order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            producer: fc.constantFrom(1, 2, 3, 9),
            abort: fc.boolean(),
            close: fc.boolean(),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        fc.nat(),
        fc.nat(),
        (steps, startSeed, orderSeed) => {
          const { log, aborted, abortedTxns } = buildLog(steps);
          const start = startSeed % log.length;
          // The broker lists the aborted transactions that overlap the fetch, in no promised order.
          const listed = aborted
            .filter((t) => t.end >= start)
            .map(({ firstOffset, producerId }) => ({ firstOffset, producerId }));
          const shift = listed.length === 0 ? 0 : orderSeed % listed.length;
          const shuffled = [...listed.slice(shift), ...listed.slice(0, shift)].reverse();
          const fetched = log.slice(start);
          const kept = withoutAbortedRecords({ messages: fetched, abortedTransactions: shuffled })
            .filter((r) => !r.isControlRecord)
            .map((r) => r.offset);
          const expected = fetched
            .filter((r) => !r.isControlRecord && (r.txn === null || !abortedTxns.has(r.txn)))
            .map((r) => r.offset);
          expect(kept).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a fetch that starts inside two aborted transactions drops both (kafkajs 2.2.4 opened only one)', () => {
    const { log, aborted } = buildLog([
      { producer: 1, abort: true, close: false },
      { producer: 2, abort: true, close: false },
      { producer: 1, abort: true, close: false },
      { producer: 2, abort: true, close: false },
      { producer: 3, abort: false, close: false },
    ]);
    const kept = withoutAbortedRecords({
      // From offset 3, a record of producer 2, whose transaction is the second one listed.
      messages: log.slice(3),
      abortedTransactions: aborted.map(({ firstOffset, producerId }) => ({ firstOffset, producerId })),
    }).filter((r) => !r.isControlRecord);
    expect(kept.map((r) => r.batchContext.producerId)).toEqual(['3']);
  });

  it('is what kafkajs uses here: a Batch built by kafkajs filters with it', async () => {
    expect(readCommittedFilterInstalled).toBe(true);
    const { createRequire } = await import('node:module');
    const Batch = createRequire(import.meta.url)('kafkajs/src/consumer/batch.js');
    const batch = new Batch('t', '2', {
      partition: 0,
      highWatermark: '10',
      abortedTransactions: [
        { firstOffset: '0', producerId: '1' },
        { firstOffset: '1', producerId: '2' },
      ],
      messages: [
        { offset: '2', key: Buffer.from('a'), batchContext: { producerId: '2', inTransaction: true } },
        { offset: '3', key: Buffer.from('b'), batchContext: { producerId: '1', inTransaction: true } },
        { offset: '4', key: Buffer.from('c'), batchContext: { producerId: '3', inTransaction: true } },
      ],
    });
    expect(batch.messages.map((m: { offset: string }) => m.offset)).toEqual(['4']);
  });
});
