// What the autoscaler measures: lag (Kafka end offsets minus Redis checkpoints, the query API's
// reading: processor/src/state/lag.ts) and topic growth, and each replica's throughput and
// watermarks from the heartbeats processors publish in Redis.
import { createHash } from 'node:crypto';
import { type Admin, Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { kafkaSecurityConfig } from '../../processor/src/kafka/client.ts';
import { connectRedis, type RedisClient } from '../../processor/src/state/connection.ts';
import type { LagReading } from '../../processor/src/state/lag.ts';
import { type ReplicaHeartbeat, readHeartbeats } from '../../processor/src/state/replica-status.ts';

/**
 * One admin client per broker list and connection settings, connected lazily, reconnected after
 * errors. With `configFile` (KAFKA_CONFIG_FILE, the same settings file processors get) every client
 * uses its TLS/SASL settings, which a Pipeline's own (`security`, from its spec.kafka Secrets)
 * replace part by part; the file is read again for each new connection, so renewed certificates are
 * picked up after a reconnect. A client unused for IDLE_MS (its Pipeline deleted, or its Secret
 * rotated, which makes other settings) is disconnected.
 */
export class KafkaAdmins {
  private readonly admins = new Map<string, { admin: Promise<Admin>; usedAt: number }>();

  constructor(private readonly options: { configFile?: string } = {}) {}

  admin(brokers: string, security: Pick<KafkaConfig, 'ssl' | 'sasl'> = {}): Promise<Admin> {
    const now = Date.now();
    for (const [key, entry] of this.admins) if (now - entry.usedAt > IDLE_MS) void this.drop(key);
    const key = clientKey(brokers, security);
    let entry = this.admins.get(key);
    if (!entry) {
      const pending = this.connect(brokers, security);
      entry = { admin: pending, usedAt: now };
      pending.catch(() => {
        if (this.admins.get(key)?.admin === pending) this.admins.delete(key);
      });
      this.admins.set(key, entry);
    }
    entry.usedAt = now;
    return entry.admin;
  }

  private async connect(brokers: string, security: Pick<KafkaConfig, 'ssl' | 'sasl'>): Promise<Admin> {
    const kafka = new Kafka({
      ...(this.options.configFile ? kafkaSecurityConfig(this.options.configFile) : {}),
      ...security,
      clientId: 'kappaflow-operator',
      brokers: brokers
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
      logLevel: logLevel.NOTHING,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
      connectionTimeout: 3000,
      requestTimeout: 10_000,
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
    } catch (e) {
      // a half-open client (e.g. refused credentials) would keep its sockets until the process exits
      await admin.disconnect().catch(() => {});
      throw e;
    }
    return admin;
  }

  /** Drops a client after an error so the next call reconnects. */
  async reset(brokers: string, security: Pick<KafkaConfig, 'ssl' | 'sasl'> = {}): Promise<void> {
    await this.drop(clientKey(brokers, security));
  }

  private async drop(key: string): Promise<void> {
    const entry = this.admins.get(key);
    this.admins.delete(key);
    await entry?.admin.then((a) => a.disconnect()).catch(() => {});
  }

  async close(): Promise<void> {
    const all = [...this.admins.values()];
    this.admins.clear();
    await Promise.all(all.map((e) => e.admin.then((x) => x.disconnect()).catch(() => {})));
  }
}

const IDLE_MS = 10 * 60_000;

/** Settings (with credentials) only as a digest, so no secret is kept as a map key. */
function clientKey(brokers: string, security: Pick<KafkaConfig, 'ssl' | 'sasl'>): string {
  if (security.ssl === undefined && security.sasl === undefined) return brokers;
  return `${brokers}#${createHash('sha256').update(JSON.stringify(security)).digest('hex')}`;
}

/**
 * Input rate from successive readings of the end offsets: total and per partition, over the
 * readings of the last `windowMs` (so one slow poll does not make a spike).
 */
export class RateTracker {
  private readings: LagReading[] = [];
  constructor(private readonly windowMs = 30_000) {}

  add(r: LagReading): void {
    this.readings.push(r);
    const cutoff = r.at - this.windowMs;
    while (this.readings.length > 2 && this.readings[0]!.at < cutoff) this.readings.shift();
  }

  /** The newest reading, if any. */
  last(): LagReading | undefined {
    return this.readings[this.readings.length - 1];
  }

  /** records/second, or undefined with fewer than two readings. */
  rate(): { total?: number; perPartition: Map<string, number> } {
    const first = this.readings[0];
    const last = this.readings[this.readings.length - 1];
    const perPartition = new Map<string, number>();
    if (!first || !last || last.at - first.at < 500) return { perPartition };
    const dt = (last.at - first.at) / 1000;
    for (const p of last.partitions) {
      const before = first.partitions.find((q) => q.id === p.id);
      if (before) perPartition.set(p.id, Math.max(0, (p.end - before.end) / dt));
    }
    return { total: Math.max(0, (last.endSum - first.endSum) / dt), perPartition };
  }
}

/**
 * One Redis client per URL (and credentials). `password` (REDIS_PASSWORD, the one processors get) is
 * used unless a call passes its own (a Pipeline's spec.redis.secretRef, with its ACL username if the
 * Secret names one), which then also goes to Sentinels, as for that Pipeline's processors.
 */
export class RedisClients {
  private readonly clients = new Map<string, RedisClient>();

  constructor(private readonly options: { password?: string } = {}) {}

  get(url: string, pipelinePassword?: string, pipelineUsername?: string): RedisClient {
    const password = pipelinePassword ?? this.options.password;
    const key = JSON.stringify([url, password ?? '', pipelineUsername ?? '']);
    let c = this.clients.get(key);
    if (!c) {
      // A Pipeline's own password is also its Sentinels' (as its processors get it); the
      // operator-wide REDIS_SENTINEL_PASSWORD belongs to the operator-wide password.
      const own = pipelinePassword !== undefined ? { sentinelPassword: pipelinePassword } : {};
      c = connectRedis(url, {
        ...(password ? { password, ...own } : {}),
        ...(pipelineUsername ? { username: pipelineUsername } : {}),
      });
      c.on('error', () => {}); // reconnects on its own; callers see failed commands
      this.clients.set(key, c);
    }
    return c;
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

export async function readReplicas(
  redis: RedisClient,
  pipeline: string,
  version: number,
): Promise<ReplicaHeartbeat[]> {
  return await withTimeout(readHeartbeats(redis, pipeline, version), 5000, 'reading heartbeats from Redis');
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out ${what}`)), ms);
    }),
  ]);
}
