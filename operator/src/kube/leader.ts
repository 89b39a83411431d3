// Lease-based leader election (coordination.k8s.io/v1), as client-go's leaderelection does: the
// holder renews the Lease every retry period; others take it over only after they have seen the
// same record unchanged for a whole lease duration (their own clock, never the holder's). A leader
// that cannot renew within the renew deadline stops acting before anybody else may start.
import { isConflict, isNotFound, type KubeClient, type KubeObject, paths } from './client.ts';
import { sleep } from './informer.ts';

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector {
  private observed = '';
  private observedAt = 0;
  private leading = false;
  private readonly duration: number;
  private readonly renewDeadline: number;
  private readonly retry: number;

  constructor(private readonly o: LeaderElectionOptions) {
    this.duration = o.leaseDurationMs ?? 15_000;
    this.renewDeadline = o.renewDeadlineMs ?? 10_000;
    this.retry = o.retryPeriodMs ?? 2_000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns, leads, and campaigns again after losing the lease, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // campaign
      while (!signal.aborted && !(await this.tryAcquireOrRenew())) await sleep(this.retry, signal);
      if (signal.aborted) break;
      this.leading = true;
      this.o.log?.('became leader', { lease: this.o.name, identity: this.o.identity });
      this.o.onStartedLeading();
      // lead: renew until a renewal fails for longer than the renew deadline
      let lastRenew = Date.now();
      while (!signal.aborted) {
        await sleep(this.retry, signal);
        if (signal.aborted) break;
        if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
        else if (Date.now() - lastRenew > this.renewDeadline || this.observedHolder() !== this.o.identity)
          break;
      }
      this.leading = false;
      this.o.log?.('stopped leading', { lease: this.o.name });
      this.o.onStoppedLeading();
    }
  }

  private observedHolder(): string {
    return this.observed.split('|')[0] ?? '';
  }

  /** Gives the lease up (on shutdown) so a standby takes over at once. */
  async release(): Promise<void> {
    try {
      const lease = await this.o.client.get<Lease>(paths.lease(this.o.namespace, this.o.name));
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      await this.o.client.replace(paths.lease(this.o.namespace, this.o.name), {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: null,
          leaseDurationSeconds: 1,
          renewTime: microTime(Date.now()),
        },
      });
    } catch {
      // best effort: the lease expires anyway
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const seconds = Math.max(1, Math.round(this.duration / 1000));
    const path = paths.lease(this.o.namespace, this.o.name);
    let lease: Lease;
    try {
      lease = await this.o.client.get<Lease>(path);
    } catch (e) {
      if (!isNotFound(e)) return false;
      try {
        await this.o.client.create(paths.leases(this.o.namespace), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: seconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.observe(`${this.o.identity}|${microTime(now)}`, now);
        return true;
      } catch {
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
    if (record !== this.observed) this.observe(record, now);
    const holder = spec.holderIdentity ?? '';
    const leaseMs = (spec.leaseDurationSeconds ?? seconds) * 1000;
    if (holder !== '' && holder !== this.o.identity && this.observedAt + leaseMs > now) return false;
    const takeover = holder !== this.o.identity;
    try {
      await this.o.client.replace(path, {
        ...lease,
        spec: {
          holderIdentity: this.o.identity,
          leaseDurationSeconds: seconds,
          acquireTime: takeover ? microTime(now) : (spec.acquireTime ?? microTime(now)),
          renewTime: microTime(now),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (takeover && holder !== '' ? 1 : 0),
        },
      });
      this.observe(`${this.o.identity}|${microTime(now)}`, now);
      return true;
    } catch (e) {
      if (!isConflict(e)) this.o.log?.('lease update failed', { error: (e as Error).message });
      return false;
    }
  }

  private observe(record: string, at: number): void {
    this.observed = record;
    this.observedAt = at;
  }
}
