// `npm run infra -- up|down|status`: real Kafka, Redis and a Schema Registry (and, with --kube, a Kubernetes API
// server) on free loopback ports, left running in the background for manual work and the demo.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKafka } from './kafka.ts';
import { cacheDir, ensureDir } from './paths.ts';
import { startRedis } from './redis.ts';
import { startSchemaRegistry } from './schema-registry.ts';

const stateFile = join(cacheDir, 'infra.json');

interface InfraState {
  kafka: { brokers: string[]; pids: number[]; dataDir: string };
  redis: { url: string; pids: number[] };
  schemaRegistry?: { url: string; pids: number[] };
  startedAt: string;
}

/** Every process `up` started (the registry is absent from states written before it existed). */
const pidsOf = (state: InfraState) => [
  ...state.kafka.pids,
  ...state.redis.pids,
  ...(state.schemaRegistry?.pids ?? []),
];

function readState(): InfraState | null {
  return existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as InfraState) : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function print(state: InfraState) {
  const up = (pids: number[]) => (pids.every(alive) ? 'running' : 'STOPPED');
  console.log(`Kafka  ${state.kafka.brokers.join(',')}  (${up(state.kafka.pids)})`);
  console.log(`Redis  ${state.redis.url}  (${up(state.redis.pids)})`);
  if (state.schemaRegistry) {
    console.log(`Schema Registry  ${state.schemaRegistry.url}  (${up(state.schemaRegistry.pids)})`);
  }
  console.log(`\nexport KAFKA_BROKERS=${state.kafka.brokers.join(',')}\nexport REDIS_URL=${state.redis.url}`);
  if (state.schemaRegistry) console.log(`export SCHEMA_REGISTRY_URL=${state.schemaRegistry.url}`);
}

export async function infraUp(): Promise<InfraState> {
  const existing = readState();
  if (existing?.schemaRegistry && pidsOf(existing).every(alive)) return existing;
  if (existing) await infraDown();
  ensureDir(cacheDir);
  const [kafka, redis, registry] = await Promise.all([
    startKafka({ detached: true, keep: true }),
    startRedis({ detached: true, keep: true }),
    startSchemaRegistry({ detached: true, keep: true }),
  ]);
  const state: InfraState = {
    kafka: {
      brokers: kafka.brokers,
      pids: kafka.nodes.map((n) => n.process.child.pid!),
      dataDir: kafka.dataDir,
    },
    redis: { url: redis.url, pids: redis.nodes.map((n) => n.process.child.pid!) },
    schemaRegistry: { url: registry.url, pids: [registry.process.child.pid!] },
    startedAt: new Date().toISOString(),
  };
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  return state;
}

export async function infraDown(): Promise<void> {
  const state = readState();
  if (!state) return;
  for (const pid of pidsOf(state)) {
    if (alive(pid)) process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 20_000;
  while (pidsOf(state).some(alive) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const pid of pidsOf(state)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(stateFile, { force: true });
}

async function main(command: string | undefined) {
  switch (command) {
    case 'up':
      print(await infraUp());
      break;
    case 'down':
      await infraDown();
      console.log('stopped');
      break;
    case 'status': {
      const state = readState();
      if (state) print(state);
      else console.log('not running (npm run infra -- up)');
      break;
    }
    case 'provision': {
      // Everything a fresh machine needs, without starting anything: used by .ci/run.
      const { ensureKafkaJars } = await import('./kafka.ts');
      const { ensureRedisServer } = await import('./redis.ts');
      const { ensureSchemaRegistry } = await import('./schema-registry.ts');
      await ensureKafkaJars();
      await ensureRedisServer();
      await ensureSchemaRegistry();
      if (process.argv.includes('--kube')) {
        const kube = (await import('./kube.ts')) as { provisionKube?: () => Promise<void> };
        await kube.provisionKube?.();
      }
      break;
    }
    default:
      console.error('usage: npm run infra -- up | down | status | provision [--kube]');
      process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  await main(process.argv[2]);
}
