/**
 * A correct read_committed filter for kafkajs. kafkajs 2.2.4 (the newest) drops the records of
 * aborted transactions in `src/consumer/filterAbortedMessages.js`, but it opens at most one aborted
 * transaction per record and assumes the broker lists them by first offset. A fetch that starts
 * after two aborted transactions began (two producers, or a crash and its replay) lets the second
 * one's records through: a consumer counts records Kafka says never happened. This reaches the
 * processors whenever a topic is written transactionally: sources written by Kafka Streams, Flink or
 * any exactly-once producer, and the session windows' own repartition topic (measured against
 * Kafka's Java consumer: 27 to 400 aborted records seen per run, see docs/exactly-once.md).
 *
 * kafkajs's Batch takes the filter when its module loads, so the fixed filter must sit in Node's
 * module cache before kafkajs's consumer is first loaded: `bin/kappaflow.js` and the test setup
 * import this module first, and `createKafka` warns if it came too late.
 */
import { createRequire } from 'node:module';

interface AbortedTransaction {
  firstOffset: string;
  producerId: string;
}

interface FetchedRecord {
  offset: string;
  key?: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

/** A control record's key is (version int16, type int16); type 0 ends a transaction by aborting it. */
function isAbortMarker(record: FetchedRecord): boolean {
  if (record.isControlRecord !== true || !record.key) return false;
  const key = Buffer.from(record.key);
  return key.length >= 4 && key.readInt16BE(2) === 0;
}

/**
 * The records of `messages` that were not written by a transaction that aborted, as Kafka's Java
 * consumer decides it: every aborted transaction whose first offset has been reached is open until
 * its producer's abort marker, whatever their number and order in the broker's list.
 */
export function withoutAbortedRecords<T extends FetchedRecord>({
  messages,
  abortedTransactions,
}: {
  messages: T[];
  abortedTransactions?: AbortedTransaction[] | null;
}): T[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) =>
    BigInt(a.firstOffset) < BigInt(b.firstOffset)
      ? -1
      : BigInt(a.firstOffset) > BigInt(b.firstOffset)
        ? 1
        : 0,
  );
  const open = new Set<string>();
  let next = 0;
  return messages.filter((message) => {
    const offset = BigInt(message.offset);
    while (next < pending.length && offset >= BigInt(pending[next]!.firstOffset)) {
      open.add(String(pending[next]!.producerId));
      next++;
    }
    const producer = String(message.batchContext.producerId);
    if (isAbortMarker(message)) {
      open.delete(producer);
      return true; // control records are dropped by the Batch itself
    }
    return !(message.batchContext.inTransaction && open.has(producer));
  });
}

const require = createRequire(import.meta.url);
// Marks the installed filter, so another copy of this module (a test runner's fresh module graph)
// recognises it in the shared module cache.
const MARK = Symbol.for('kappaflow.readCommittedFilter');
Object.defineProperty(withoutAbortedRecords, MARK, { value: true });
let installed: boolean | undefined;

/**
 * Puts `withoutAbortedRecords` in kafkajs's place. True when it will be used: kafkajs's consumer
 * batch module was not loaded yet (or this already ran in time).
 */
export function installReadCommittedFilter(): boolean {
  if (installed !== undefined) return installed;
  const filterPath = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
  const batchPath = require.resolve('kafkajs/src/consumer/batch.js');
  if (require.cache[batchPath]) {
    installed = require.cache[filterPath]?.exports?.[MARK] === true;
    return installed;
  }
  require(filterPath);
  require.cache[filterPath]!.exports = withoutAbortedRecords;
  installed = true;
  return installed;
}

export const readCommittedFilterInstalled = installReadCommittedFilter();
