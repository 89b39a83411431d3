/**
 * Exact top-k over several ranked lists whose entries combine into one value per member (Fagin's
 * threshold algorithm, "Optimal aggregation algorithms for middleware", Fagin, Lotem, Naor 2003):
 * one list per part of a window (a partition's window hash or slice, query/top-index.ts), each
 * sorted by the part's value, largest first, ties in member byte order. Reads the lists' heads and
 * every candidate's value in every list, and stops once the k-th candidate's exact value is above
 * what any member not yet seen could reach (the threshold): the sum, or the max, of the values
 * where the lists were left. Exact, not approximate: it returns what ranking every member would.
 * With `resolve`, the lists hold upper bounds of each part's share (a percentile's upper quantile,
 * aggregates/ddsketch.ts) and the candidates' exact values are read apart.
 */

/** How a member's entries combine: added (count, sum), or the largest (max) or smallest (min) one. */
export type Combine = 'sum' | 'max' | 'min';

export interface RankedEntry {
  member: string;
  value: number;
}

/** One ranked list (one part), read in rounds: a range of its entries and the values of given members. */
export interface RankSource {
  /**
   * Entries [from, from + count) in rank order (largest value first, ties in member byte order),
   * and the values of `members` in this list (null when absent).
   */
  read(
    from: number,
    count: number,
    members: readonly string[],
  ): Promise<{
    entries: RankedEntry[];
    values: (number | null)[];
  }>;
}

export interface ThresholdOptions {
  k: number;
  combine: Combine;
  /**
   * The member's value from its entries, in list order (null: absent): the same merge as reading
   * every member, so that the answer's values and their floating-point sums are identical.
   */
  merge?: (entries: readonly (number | null)[]) => number | null;
  /**
   * Instead of `merge`: the lists' values only bound each member's value from above (combined
   * with `max`), and this reads the exact values of candidates, given with their entries per list.
   */
  resolve?: (members: readonly string[], entries: readonly (number | null)[][]) => Promise<(number | null)[]>;
  /**
   * Sums of the lists' values are exact (integer counts): a member not yet seen can then only tie
   * with the threshold by being at each list's position, which lets ties stop early.
   */
  exactSums: boolean;
}

export interface ThresholdTop {
  top: RankedEntry[];
  /** per member of `top`, its entries per list (null: absent from that list) */
  entries: Map<string, (number | null)[]>;
  /** round trips (each one call per list), for tests and tuning */
  rounds: number;
}

interface ListState {
  read: number;
  exhausted: boolean;
  last: RankedEntry | undefined;
}

/** The answer ordering of top-N: value descending, then the group key in code-unit order (as `top` sorts). */
export function rankOrder(a: RankedEntry, b: RankedEntry): number {
  return b.value - a.value || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0);
}

export async function thresholdTop(
  lists: readonly RankSource[],
  options: ThresholdOptions,
): Promise<ThresholdTop> {
  const { k, combine } = options;
  if (!options.merge && !options.resolve) throw new Error('thresholdTop needs merge or resolve');
  const states: ListState[] = lists.map(() => ({ read: 0, exhausted: false, last: undefined }));
  // per candidate, its entry per list: undefined while unknown
  const partials = new Map<string, (number | null | undefined)[]>();
  const partialsOf = (member: string) => {
    let list = partials.get(member);
    if (!list) {
      list = new Array(lists.length).fill(undefined);
      partials.set(member, list);
    }
    return list;
  };
  // with `resolve`: the exact value of each candidate read so far
  const resolved = new Map<string, number | null>();
  let depth = Math.max(1, k);
  let rounds = 0;
  for (;;) {
    // One round: each list's next entries down to `depth`, and the values of candidates it has not given yet.
    await roundOf(depth);
    // Candidates found in this round's ranges lack their values in the other lists: one more round for those.
    if ([...partials.values()].some((p) => p.includes(undefined))) await roundOf(0);
    if (options.resolve) await resolveCandidates(options.resolve);
    const ranked: RankedEntry[] = [];
    for (const [member, list] of partials) {
      const value = options.resolve ? resolved.get(member)! : options.merge!(list as (number | null)[]);
      if (value !== null) ranked.push({ member, value });
    }
    ranked.sort(rankOrder);
    if (states.every((s) => s.exhausted) || (ranked.length >= k && beatsThreshold(ranked[k - 1]!))) {
      const top = ranked.slice(0, k);
      return {
        top,
        entries: new Map(top.map((e) => [e.member, partials.get(e.member) as (number | null)[]])),
        rounds,
      };
    }
    depth *= 4;
  }

  /**
   * Reads exact values of the candidates not resolved yet, highest bound first, in chunks. A
   * candidate whose bound is below the k-th exact value so far can never enter the top k (that
   * value only rises as candidates are added), so it is dropped unread (null: not ranked).
   */
  async function resolveCandidates(resolve: NonNullable<ThresholdOptions['resolve']>): Promise<void> {
    const boundOf = (m: string) =>
      Math.max(...(partials.get(m) as (number | null)[]).map((x) => x ?? -Infinity));
    const fresh = [...partials.keys()]
      .filter((m) => !resolved.has(m))
      .map((member) => ({ member, bound: boundOf(member) }))
      .sort((a, b) => b.bound - a.bound);
    const chunk = Math.max(k, 32);
    for (let i = 0; i < fresh.length; ) {
      const known = [...resolved.values()].filter((v): v is number => v !== null).sort((a, b) => b - a);
      const kth = known.length >= k ? known[k - 1]! : -Infinity;
      const asked: string[] = [];
      for (; i < fresh.length && asked.length < chunk; i++) {
        if (fresh[i]!.bound < kth) resolved.set(fresh[i]!.member, null);
        else asked.push(fresh[i]!.member);
      }
      if (asked.length === 0) continue;
      const values = await resolve(
        asked,
        asked.map((m) => partials.get(m) as (number | null)[]),
      );
      asked.forEach((m, j) => {
        resolved.set(m, values[j] ?? null);
      });
    }
  }

  async function roundOf(to: number): Promise<void> {
    rounds++;
    const asks = states.map((state, i) => {
      const count = state.exhausted ? 0 : Math.max(0, to - state.read);
      const members = [...partials].filter(([, p]) => p[i] === undefined).map(([m]) => m);
      return { count, members };
    });
    const replies = await Promise.all(
      lists.map((list, i) => {
        const { count, members } = asks[i]!;
        if (count === 0 && members.length === 0) return Promise.resolve({ entries: [], values: [] });
        return list.read(states[i]!.read, count, members);
      }),
    );
    replies.forEach((reply, i) => {
      const { count, members } = asks[i]!;
      const state = states[i]!;
      members.forEach((m, j) => {
        partialsOf(m)[i] = reply.values[j] ?? null;
      });
      for (const entry of reply.entries) partialsOf(entry.member)[i] = entry.value;
      state.read += reply.entries.length;
      if (reply.entries.length > 0) state.last = reply.entries[reply.entries.length - 1];
      if (count > 0 && reply.entries.length < count) state.exhausted = true;
    });
    // A member not among an exhausted list's entries is absent from it.
    states.forEach((state, i) => {
      if (!state.exhausted) return;
      for (const p of partials.values()) if (p[i] === undefined) p[i] = null;
    });
  }

  /** Whether no member outside the candidates can rank ahead of `kth`. */
  function beatsThreshold(kth: RankedEntry): boolean {
    const open = states.filter((s) => !s.exhausted && s.last) as (ListState & { last: RankedEntry })[];
    if (open.length === 0) return true;
    let threshold: number;
    if (combine === 'sum') {
      // In list order from 0, as merge adds: floating-point addition is monotone in each term, so a
      // member with entries at most these bounds (absent adds nothing: at most max(last, 0)) sums to at most this.
      threshold = 0;
      for (const s of open) threshold += Math.max(s.last.value, 0);
    } else {
      // max: an unseen member's entries are at most where each list was left; min: its smallest
      // entry is at most the entry of any list it is in, which is at most that list's last value.
      threshold = Math.max(...open.map((s) => s.last.value));
    }
    if (kth.value > threshold) return true;
    if (kth.value < threshold) return false;
    // A tie: an unseen member ties only by being past the last entry of some lists, whose values it
    // shares, so its key is above those lists' last keys (in byte order, the lists' order).
    if (!orderAgrees(kth.member)) return false;
    let bound: string | undefined;
    if (combine === 'sum') {
      if (!options.exactSums) return false;
      // Exact sums: it equals the threshold only with every positive bound's list at its last value.
      for (const s of open)
        if (s.last.value > 0 && (bound === undefined || byteCompare(s.last.member, bound) > 0))
          bound = s.last.member;
    } else {
      // It holds the threshold's value in some list left at that value: its key is past that list's
      // last. (With `resolve` too: an exact value equal to the threshold needs a bound equal to it.)
      for (const s of open)
        if (s.last.value === threshold && (bound === undefined || byteCompare(s.last.member, bound) < 0))
          bound = s.last.member;
    }
    return bound !== undefined && byteCompare(kth.member, bound) <= 0;
  }
}

export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Byte order (the lists') and code-unit order (the answer's) agree on `key` < any longer or later
 * key when `key` has no surrogate or private-use-area-and-above character: below U+D800, a
 * character sorts the same in both.
 */
export function orderAgrees(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) >= 0xd800) return false;
  return true;
}
