// `npm run infra -- up|down|status`: real Kafka and Redis (and, with --kube, a Kubernetes API
// server) on free loopback ports, left running in the background for manual work and the demo.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKafka } from './kafka.ts';
import { cacheDir, ensureDir } from './paths.ts';
import { startRedis } from './redis.ts';
import { processAlive } from './service.ts';

const stateFile = join(cacheDir, 'infra.json');

interface InfraState {
  kafka: { brokers: string[]; pids: number[]; dataDir: string };
  redis: { url: string; pids: number[] };
  startedAt: string;
}

function readState(): InfraState | null {
  return existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as InfraState) : null;
}

function print(state: InfraState) {
  const up = (pids: number[]) => (pids.every((pid) => processAlive(pid)) ? 'running' : 'STOPPED');
  console.log(`Kafka  ${state.kafka.brokers.join(',')}  (${up(state.kafka.pids)})`);
  console.log(`Redis  ${state.redis.url}  (${up(state.redis.pids)})`);
  console.log(`\nexport KAFKA_BROKERS=${state.kafka.brokers.join(',')}\nexport REDIS_URL=${state.redis.url}`);
}

export async function infraUp(): Promise<InfraState> {
  const existing = readState();
  if (existing && [...existing.kafka.pids, ...existing.redis.pids].every((pid) => processAlive(pid)))
    return existing;
  if (existing) await infraDown();
  ensureDir(cacheDir);
  const [kafka, redis] = await Promise.all([
    startKafka({ detached: true, keep: true }),
    startRedis({ detached: true, keep: true }),
  ]);
  const state: InfraState = {
    kafka: {
      brokers: kafka.brokers,
      pids: kafka.nodes.map((n) => n.process.child.pid!),
      dataDir: kafka.dataDir,
    },
    redis: { url: redis.url, pids: redis.nodes.map((n) => n.process.child.pid!) },
    startedAt: new Date().toISOString(),
  };
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  return state;
}

export async function infraDown(): Promise<void> {
  const state = readState();
  if (!state) return;
  for (const pid of [...state.kafka.pids, ...state.redis.pids]) {
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 20_000;
  while (
    [...state.kafka.pids, ...state.redis.pids].some((pid) => processAlive(pid)) &&
    Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const pid of [...state.kafka.pids, ...state.redis.pids])
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(stateFile, { force: true });
}

/** `up --node`: a real node (real-node.ts) left running; `down` stops it and restores the kernel settings. */
async function nodeUp(): Promise<void> {
  const { startRealNode } = await import('./real-node.ts');
  const node = await startRealNode({ detached: true, keep: true });
  console.log(`\nReal node ${node.nodeName} Ready; image ${node.image.name}`);
  console.log(`export KUBECONFIG=${node.api.kubeconfigPath}`);
}

async function main(command: string | undefined) {
  switch (command) {
    case 'up':
      print(await infraUp());
      if (process.argv.includes('--node')) await nodeUp();
      break;
    case 'down': {
      await infraDown();
      const { stopRecordedNode } = await import('./real-node.ts');
      if (await stopRecordedNode()) console.log('real node stopped, kernel settings restored');
      console.log('stopped');
      break;
    }
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
      await ensureKafkaJars();
      await ensureRedisServer();
      if (process.argv.includes('--kube')) {
        const kube = (await import('./kube.ts')) as { provisionKube?: () => Promise<void> };
        await kube.provisionKube?.();
      }
      if (process.argv.includes('--node')) {
        const { installNodePackages } = await import('./containerd.ts');
        const { provisionNode } = await import('./real-node.ts');
        await installNodePackages();
        const { image } = await provisionNode();
        console.log(`Kappaflow image ${image.name}: ${(image.size / 1e6).toFixed(0)} MB (${image.archive})`);
      }
      break;
    }
    default:
      console.error('usage: npm run infra -- up [--node] | down | status | provision [--kube] [--node]');
      process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  await main(process.argv[2]);
}
