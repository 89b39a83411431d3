import type { AbsoluteValue } from './cached-partial.ts';
import { ValuePairs } from './value-pairs.ts';

/**
 * Script arguments `<head><group>`, `<value>` for one numeric column of a partial (a count, a sum,
 * a min or a max of each of its groups), kept as the head, the groups and the numbers: the commit's
 * encoder (script-command.ts) writes their bytes straight into the command, with no string built per
 * field or value (per group of workload 1 that was two concatenations, two number texts and their
 * copies; bench/fold-micro.ts). Readers other than the encoder take them as text (`plainArguments`).
 */
export class NumberPairs {
  constructor(
    readonly head: string,
    readonly groups: readonly string[],
    /** one per pair */
    readonly values: readonly number[],
    /** the index in `groups` of each value's group; absent: the i-th value is the i-th group's */
    readonly which?: readonly number[],
  ) {}

  /** How many script arguments these are (a field and a value per group). */
  get arguments(): number {
    return this.values.length * 2;
  }

  group(i: number): string {
    return this.groups[this.which ? this.which[i]! : i]!;
  }
}

/** A partial's staged arguments: plain values and blocks of numeric or sketch pairs, in the order they are sent. */
export type StagedArguments = readonly (AbsoluteValue | NumberPairs | ValuePairs)[];

/** Arguments whose count is known as they are staged (so `argumentCount` need not walk them). */
const counted = new WeakMap<StagedArguments, number>();

/** Records how many script arguments `args` stand for; returns them. */
export function countedArguments(args: StagedArguments, count: number): StagedArguments {
  counted.set(args, count);
  return args;
}

/** How many script arguments these stand for. */
export function argumentCount(args: StagedArguments): number {
  const known = counted.get(args);
  if (known !== undefined) return known;
  let count = 0;
  for (const arg of args)
    count += arg instanceof NumberPairs || arg instanceof ValuePairs ? arg.arguments : 1;
  return count;
}

/** The arguments as plain values, every block of pairs written out (field names and numbers as text). */
export function plainArguments(args: StagedArguments): AbsoluteValue[] {
  const out: AbsoluteValue[] = [];
  for (const arg of args) {
    if (arg instanceof ValuePairs) {
      for (let i = 0; i < arg.values.length; i++) out.push(arg.head + arg.group(i), arg.values[i]!);
      continue;
    }
    if (!(arg instanceof NumberPairs)) {
      out.push(arg);
      continue;
    }
    for (let i = 0; i < arg.values.length; i++) out.push(arg.head + arg.group(i), String(arg.values[i]!));
  }
  return out;
}
