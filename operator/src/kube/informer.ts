// List-then-watch with a local cache, like client-go's reflector: re-watches from the last seen
// resourceVersion when a stream ends (server timeout, API server restart), relists when the version
// expired (410 Gone), backs off on errors, and replays the cache every resync period so handlers
// stay level-triggered even if an event was missed.
import { isGone, type KubeClient, type KubeObject, type WatchEvent } from './client.ts';

export type InformerEvent = 'add' | 'update' | 'delete' | 'resync';

export interface InformerOptions<T extends KubeObject> {
  client: KubeClient;
  /** collection path, e.g. /apis/apps/v1/deployments */
  path: string;
  labelSelector?: string;
  /** replay every cached object this often (0: never) */
  resyncMs: number;
  onEvent: (type: InformerEvent, obj: T) => void;
  onError?: (error: unknown, phase: 'list' | 'watch') => void;
  /** server-side timeout of one watch request, seconds (default 300) */
  watchTimeoutSeconds?: number;
  /** counts relists caused by 410 Gone, for metrics/tests */
  onRelist?: (reason: 'start' | 'gone' | 'error') => void;
}

export const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private readonly abort = new AbortController();
  private synced = false;
  private syncedWaiters: Array<() => void> = [];
  private resyncTimer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly options: InformerOptions<T>) {}

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  start(): void {
    this.running = this.loop();
    if (this.options.resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        for (const obj of this.cache.values()) this.options.onEvent('resync', obj);
      }, this.options.resyncMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.running?.catch(() => {});
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.options.client.list<T>(this.options.path, {
        labelSelector: this.options.labelSelector,
        limit: 500,
        continue: cont,
      });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, item);
      if (!old) this.options.onEvent('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.options.onEvent('update', item);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.options.onEvent('delete', old);
      }
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncedWaiters.splice(0)) w();
    }
  }

  private handle(event: WatchEvent<T>): void {
    const obj = event.object;
    if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const key = keyOf(obj);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.options.onEvent('delete', obj);
      return;
    }
    const had = this.cache.has(key);
    this.cache.set(key, obj);
    this.options.onEvent(had ? 'update' : 'add', obj);
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let needList = true;
    let backoff = 250;
    let listReason: 'start' | 'gone' | 'error' = 'start';
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          this.options.onRelist?.(listReason);
          needList = false;
        }
        await this.options.client.watch<T>(
          this.options.path,
          {
            labelSelector: this.options.labelSelector,
            resourceVersion: this.resourceVersion,
            timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
          },
          (event) => this.handle(event),
          signal,
        );
        backoff = 250; // a stream that ended normally: watch again from where it stopped
      } catch (error) {
        if (signal.aborted) break;
        if (isGone(error)) {
          // the resourceVersion is older than etcd's compaction: start over from a fresh list
          needList = true;
          listReason = 'gone';
          continue;
        }
        this.options.onError?.(error, needList ? 'list' : 'watch');
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 10_000);
        // After a connection error the cached version may be gone too; a relist is cheap and safe.
        if (backoff >= 4000) {
          needList = true;
          listReason = 'error';
        }
      }
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
