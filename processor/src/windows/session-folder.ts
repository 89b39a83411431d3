import type { BatchFold, PreparedArgs } from '../aggregates/fold.ts';

/** A session of one group: from its first to its last event time. */
export interface StoredSession {
  start: number;
  end: number;
}

/**
 * The port through which the folder sees stored sessions: the sessions of some groups that end at or
 * after `from`, read in one round trip per batch (state/sessions.ts implements it over Redis).
 */
export interface SessionStore {
  load(groups: readonly string[], from: number): Promise<Map<string, StoredSession[]>>;
}

interface Session extends StoredSession {
  /** where the session lives in Redis before this batch, when it was loaded from there */
  storedStart?: number;
  /** fold windows (synthetic keys) holding this batch's records of the session */
  parts: number[];
  /** stored sessions this one has absorbed (their state moves into the final session) */
  absorbed: number[];
}

/** What the commit script does for one final session of one group. */
export interface SessionUpdate {
  group: string;
  start: number;
  end: number;
  /** starts of stored sessions whose state moves into this one, then disappear */
  mergeFrom: number[];
}

/**
 * Session windows: a group's events belong to one session while each is within `gap` of the next.
 * A new event can extend a session, start one, or bridge two (which then merge). The batch's records
 * fold into synthetic windows per in-memory session; `finish` maps them to the final session starts
 * and lists the stored sessions to merge, all applied by the same atomic commit.
 */
export class SessionFolder {
  private readonly groups = new Map<string, Session[]>();
  private nextPart = -1;

  constructor(
    private readonly gapMs: number,
    private readonly graceMs: number,
    private readonly fold: BatchFold,
    stored: ReadonlyMap<string, readonly StoredSession[]>,
  ) {
    for (const [group, sessions] of stored) {
      this.groups.set(
        group,
        sessions.map((s) => ({ start: s.start, end: s.end, storedStart: s.start, parts: [], absorbed: [] })),
      );
    }
  }

  /** A session is over once the watermark passed its last event + gap + grace. */
  private closed(end: number, watermark: number): boolean {
    return end + this.gapMs + this.graceMs <= watermark;
  }

  /** Folds one record; false when it is late (its session has closed at this watermark). */
  add(group: string, eventTime: number, watermark: number, prepared: PreparedArgs): boolean {
    let sessions = this.groups.get(group);
    if (!sessions) {
      sessions = [];
      this.groups.set(group, sessions);
    }
    const touching = sessions.filter(
      (s) => eventTime >= s.start - this.gapMs && eventTime <= s.end + this.gapMs,
    );
    const start = Math.min(eventTime, ...touching.map((s) => s.start));
    const end = Math.max(eventTime, ...touching.map((s) => s.end));
    if (this.closed(end, watermark) || touching.some((s) => this.closed(s.end, watermark))) return false;

    const merged: Session = {
      start,
      end,
      parts: touching.flatMap((s) => s.parts),
      absorbed: touching.flatMap((s) =>
        s.storedStart === undefined ? s.absorbed : [...s.absorbed, s.storedStart],
      ),
    };
    const part = this.nextPart--;
    merged.parts.push(part);
    this.fold.add(this.fold.window(part, part), group, eventTime, prepared);
    this.groups.set(group, [...sessions.filter((s) => !touching.includes(s)), merged]);
    return true;
  }

  /** Gives the batch's fold windows their final session start and end, and lists the session updates. */
  finish(): SessionUpdate[] {
    const updates: SessionUpdate[] = [];
    for (const [group, sessions] of this.groups) {
      for (const session of sessions) {
        if (session.parts.length === 0) continue; // untouched stored session
        for (const part of session.parts) {
          const delta = this.fold.windows.get(part)!;
          delta.start = session.start;
          delta.end = session.end + this.gapMs;
        }
        updates.push({
          group,
          start: session.start,
          end: session.end,
          mergeFrom: session.absorbed.filter((s) => s !== session.start),
        });
      }
    }
    return updates;
  }
}
