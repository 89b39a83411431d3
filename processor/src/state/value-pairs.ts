import type { AbsoluteValue } from './cached-partial.ts';

/**
 * Script arguments `<head><group>`, `<value>` for one packed sketch of a partial (a HyperLogLog's
 * bytes or a DDSketch's text per group whose sketch the batch changed), kept as the head, the
 * groups and the values: the commit's encoder (script-command.ts) writes each field's bytes from
 * the head and the group, so no `<agg>#h|<group>` string is built per group per batch (the
 * NumberPairs of sketches; number-pairs.ts).
 */
export class ValuePairs {
  constructor(
    readonly head: string,
    readonly groups: readonly string[],
    /** one per pair */
    readonly values: readonly AbsoluteValue[],
    /** the index in `groups` of each value's group */
    readonly which: readonly number[],
  ) {}

  /** How many script arguments these are (a field and a value per group). */
  get arguments(): number {
    return this.values.length * 2;
  }

  group(i: number): string {
    return this.groups[this.which[i]!]!;
  }
}
