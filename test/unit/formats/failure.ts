import { expect } from 'vitest';
import { RecordFailure } from '../../../processor/src/consumer/decode.ts';

/** The message of the RecordFailure that `run` throws (fails the test when it throws nothing else). */
export function failure(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordFailure);
    return (error as RecordFailure).message;
  }
  throw new Error('expected a RecordFailure');
}
