import type { Event } from '../../../harness/query-fixture.ts';

/**
 * The expected answers, computed straight from the events (no Redis, no processor code): what the
 * query API must return after merging every partition's partial state.
 */
export interface ExpectedGroup {
  orders: number;
  revenue: number;
  minAmount: number;
  maxAmount: number;
  avgAmount: number;
  firstItem: string;
  lastItem: string;
  users: number;
  /** the exact 0.9-quantile (DDSketch answers within 1% of it) */
  p90: number;
  topItems: { value: string; count: number }[];
}

export function groupKey(e: Pick<Event, 'country' | 'device'>): string {
  return JSON.stringify([e.country, e.device]);
}

/** window start -> group key -> expected values (tumbling windows of sizeMs). */
export function expectedWindows(events: Event[], sizeMs: number, filter: (e: Event) => boolean = () => true) {
  const windows = new Map<number, Map<string, Event[]>>();
  for (const e of events.filter(filter)) {
    const start = e.time - (((e.time % sizeMs) + sizeMs) % sizeMs);
    let groups = windows.get(start);
    if (!groups) {
      groups = new Map();
      windows.set(start, groups);
    }
    const key = groupKey(e);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const out = new Map<number, Map<string, ExpectedGroup>>();
  for (const [start, groups] of windows) {
    const m = new Map<string, ExpectedGroup>();
    for (const [key, list] of groups) m.set(key, expectedGroup(list));
    out.set(start, m);
  }
  return out;
}

export function expectedGroup(list: Event[]): ExpectedGroup {
  const amounts = list.map((e) => e.amount);
  const sorted = [...amounts].sort((a, b) => a - b);
  const byTime = [...list].sort((a, b) => a.time - b.time);
  const counts = new Map<string, number>();
  for (const e of list) counts.set(e.item, (counts.get(e.item) ?? 0) + 1);
  const revenue = amounts.reduce((a, b) => a + b, 0);
  return {
    orders: list.length,
    revenue,
    minAmount: sorted[0]!,
    maxAmount: sorted[sorted.length - 1]!,
    avgAmount: revenue / list.length,
    firstItem: byTime[0]!.item,
    lastItem: byTime[byTime.length - 1]!.item,
    users: new Set(list.map((e) => e.user)).size,
    p90: sorted[Math.floor(0.9 * (sorted.length - 1))]!,
    topItems: [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 3)
      .map(([value, count]) => ({ value, count })),
  };
}
