import type { RedisClient } from '../state/connection.ts';
import { keys, partitionPrefix } from '../state/keys.ts';
import { type PipelineRegistration, readRegistration } from '../state/registry.ts';
import { type IdleLookup, idlePartitions } from './read-context.ts';

export interface WindowUpdate {
  pipeline: string;
  version: number;
  start: number;
  end: number;
  final: boolean;
  /** the partitions whose commits changed this window since the last event */
  partitions: string[];
  at: number;
}

export interface ProgressUpdate {
  pipeline: string;
  version: number;
  watermark: number | null;
  partitions: { id: string; offset: string | null; watermark: number | null; updatedAt: number | null }[];
  at: number;
}

export interface WatchListener {
  window(update: WindowUpdate): void;
  progress(update: ProgressUpdate): void;
}

export interface WatchOptions {
  intervalMs?: number;
  onError?: (error: Error) => void;
  /** spec.source.idleTimeout's idle partitions, as the other endpoints see them */
  idle?: IdleLookup;
}

interface PartitionState {
  stamp: string;
  watermark: number | null;
  offset: string | null;
  updatedAt: number | null;
  /** open windows: start -> end */
  open: Map<number, number>;
}

/**
 * Notices commits without any help from the processor: every `intervalMs` it reads each
 * partition's checkpoint `offset` and `updatedAt` (one HMGET per partition, all sent at once, so
 * one round trip), and only for the partitions that moved, their open windows. Windows open on a
 * moved partition were (possibly) updated; windows that left the open set were just closed. One
 * poller per pipeline serves every SSE client of it.
 */
export class PipelineWatcher {
  private readonly listeners = new Set<WatchListener>();
  private timer: NodeJS.Timeout | undefined;
  private registration: PipelineRegistration | null = null;
  private registrationReadAt = 0;
  private states = new Map<string, PartitionState>();
  private polling = false;
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    readonly name: string,
    private readonly options: WatchOptions = {},
  ) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: WatchListener): void {
    this.listeners.add(listener);
    if (!this.timer && !this.stopped) {
      this.timer = setInterval(() => void this.poll(), this.options.intervalMs ?? 250);
      void this.poll();
    }
  }

  remove(listener: WatchListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.states.clear();
    this.registration = null;
  }

  /** Runs one poll now (also what the timer does); exposed so a pub/sub notification can trigger it. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.pollOnce();
    } catch (error) {
      this.options.onError?.(error as Error);
    } finally {
      this.polling = false;
    }
  }

  private async pollOnce(): Promise<void> {
    const now = Date.now();
    if (!this.registration || now - this.registrationReadAt > 2000) {
      const reg = await readRegistration(this.redis, this.name);
      if (!reg) return;
      if (this.registration && this.registration.activeVersion !== reg.activeVersion) this.states.clear();
      this.registration = reg;
      this.registrationReadAt = now;
    }
    const reg = this.registration;
    const prefixes = reg.partitions.map((id) => partitionPrefix(reg.name, reg.activeVersion, id));
    const stamps = await Promise.all(
      prefixes.map((prefix) => this.redis.hmget(keys.checkpoint(prefix), 'offset', 'updatedAt', 'watermark')),
    );
    const first = this.states.size === 0;
    const moved: number[] = [];
    stamps.forEach(([offset, updatedAt], i) => {
      const stamp = `${offset ?? ''}/${updatedAt ?? ''}`;
      if (this.states.get(reg.partitions[i]!)?.stamp !== stamp) moved.push(i);
    });
    if (moved.length === 0) return;
    const opens = await Promise.all(
      moved.map((i) => this.redis.zrange(keys.open(prefixes[i]!), 0, -1, 'WITHSCORES')),
    );
    const changed = new Map<number, { end: number; partitions: Set<string> }>();
    moved.forEach((i, k) => {
      const id = reg.partitions[i]!;
      const [offset, updatedAt, watermark] = stamps[i]!;
      const flat = opens[k]!;
      const open = new Map<number, number>();
      for (let j = 0; j + 1 < flat.length; j += 2) open.set(Number(flat[j]), Number(flat[j + 1]));
      const previous = this.states.get(id);
      const note = (start: number, end: number) => {
        let entry = changed.get(start);
        if (!entry) {
          entry = { end, partitions: new Set() };
          changed.set(start, entry);
        }
        entry.partitions.add(id);
      };
      if (!first) {
        for (const [start, end] of open) note(start, end);
        for (const [start, end] of previous?.open ?? []) if (!open.has(start)) note(start, end);
      }
      const wm = watermark === null ? null : Number(watermark);
      this.states.set(id, {
        stamp: `${offset ?? ''}/${updatedAt ?? ''}`,
        offset: offset ?? null,
        updatedAt: updatedAt === null ? null : Number(updatedAt),
        watermark: wm === null || wm <= Number.MIN_SAFE_INTEGER ? null : wm,
        open,
      });
    });
    // Partitions that did not move keep their last reading.
    stamps.forEach(([offset, updatedAt, watermark], i) => {
      const id = reg.partitions[i]!;
      if (this.states.has(id) || offset === null) return;
      const wm = watermark === null ? null : Number(watermark);
      this.states.set(id, {
        stamp: `${offset}/${updatedAt ?? ''}`,
        offset: offset ?? null,
        updatedAt: updatedAt === null ? null : Number(updatedAt),
        watermark: wm === null || wm <= Number.MIN_SAFE_INTEGER ? null : wm,
        open: new Map(),
      });
    });
    if (first) return; // the first reading is the baseline, not an update
    // As /windows and /pipelines read them: idle partitions (spec.source.idleTimeout) hold nothing
    // open; a window is final once every other committed partition is past its end + grace, and
    // the pipeline's watermark is the lowest of the partitions that have one.
    const committed = [...this.states.entries()]
      .filter(([, s]) => s.offset !== null)
      .map(([id, s]) => ({ id, committed: true, updatedAt: s.updatedAt, watermark: s.watermark }));
    // Kafka answers the idle question; a slow Kafka must not hold the stream (none idle meanwhile)
    const idle = await withinMs(idlePartitions(this.options.idle, reg, committed), 1000, new Set<string>());
    const live = committed.filter((s) => !idle.has(s.id));
    const known = live.flatMap((s) => (s.watermark === null ? [] : [s.watermark]));
    const watermark = known.length > 0 ? Math.min(...known) : null;
    const finalUpTo = live.length > 0 && known.length === live.length ? Math.min(...known) : null;
    const at = Date.now();
    for (const listener of this.listeners) {
      listener.progress({
        pipeline: reg.name,
        version: reg.activeVersion,
        watermark,
        partitions: reg.partitions.map((id) => {
          const s = this.states.get(id);
          return {
            id,
            offset: s?.offset ?? null,
            watermark: s?.watermark ?? null,
            updatedAt: s?.updatedAt ?? null,
          };
        }),
        at,
      });
    }
    for (const [start, { end, partitions }] of [...changed.entries()].sort((a, b) => a[0] - b[0])) {
      const update: WindowUpdate = {
        pipeline: reg.name,
        version: reg.activeVersion,
        start,
        end,
        final: finalUpTo !== null && finalUpTo >= end + reg.window.graceMs,
        partitions: [...partitions].sort(),
        at,
      };
      for (const listener of this.listeners) listener.window(update);
    }
  }
}

/** One watcher per pipeline, created on the first SSE client and stopped with the last. */
export class WatchHub {
  private readonly watchers = new Map<string, PipelineWatcher>();

  constructor(
    private readonly redis: RedisClient,
    private readonly options: WatchOptions = {},
  ) {}

  subscribe(name: string, listener: WatchListener): () => void {
    let watcher = this.watchers.get(name);
    if (!watcher) {
      watcher = new PipelineWatcher(this.redis, name, this.options);
      this.watchers.set(name, watcher);
    }
    watcher.add(listener);
    const w = watcher;
    return () => {
      w.remove(listener);
      if (w.size === 0 && this.watchers.get(name) === w) this.watchers.delete(name);
    };
  }

  /** Polls the pipeline now (e.g. on a pub/sub notification from a processor). */
  nudge(name: string): void {
    void this.watchers.get(name)?.poll();
  }

  close(): void {
    for (const watcher of this.watchers.values()) watcher.stop();
    this.watchers.clear();
  }
}

async function withinMs<T>(work: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(otherwise), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
