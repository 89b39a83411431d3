// `npm run infra -- up|down|status`: real Kafka, Redis and a Schema Registry (and, with --kube, a Kubernetes API
// server) on free loopback ports, left running in the background for manual work and the demo.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaTimeoutMs, nodeCount } from './infra-options.ts';
import { startKafka } from './kafka.ts';
import { cacheDir, ensureDir } from './paths.ts';
import { startRedis } from './redis.ts';
import { startSchemaRegistry } from './schema-registry.ts';
import { processAlive, type StartedProcess } from './service.ts';

/** KAPPAFLOW_INFRA_STATE moves it (the CLI's own test uses a state file of its own). */
const stateFile = process.env.KAPPAFLOW_INFRA_STATE ?? join(cacheDir, 'infra.json');

interface InfraState {
  /** false while `up` runs, or after an `up` that died: `down` still stops everything in `started` */
  ready?: boolean;
  kafka: { brokers: string[]; pids: number[]; dataDir: string };
  redis: { url: string; pids: number[] };
  schemaRegistry?: { url: string; pids: number[] };
  /** every process `up` started and the folder it writes, recorded the moment it starts */
  started?: StartedProcess[];
  startedAt: string;
}

function readState(): InfraState | null {
  return existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as InfraState) : null;
}

function writeState(state: InfraState): void {
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
}

function print(state: InfraState) {
  if (state.ready === false) {
    const started = (state.started ?? []).map((s) => `${s.name} (pid ${s.pid})`).join(', ') || 'nothing yet';
    console.log(`starting, or an \`up\` that did not finish; started: ${started}`);
    console.log('npm run infra -- down stops it');
    return;
  }
  const up = (pids: number[]) => (pids.every((pid) => processAlive(pid)) ? 'running' : 'STOPPED');
  console.log(`Kafka  ${state.kafka.brokers.join(',')}  (${up(state.kafka.pids)})`);
  console.log(`Redis  ${state.redis.url}  (${up(state.redis.pids)})`);
  if (state.schemaRegistry) {
    console.log(`Schema Registry  ${state.schemaRegistry.url}  (${up(state.schemaRegistry.pids)})`);
  }
  console.log(`\nexport KAFKA_BROKERS=${state.kafka.brokers.join(',')}\nexport REDIS_URL=${state.redis.url}`);
  if (state.schemaRegistry) console.log(`export SCHEMA_REGISTRY_URL=${state.schemaRegistry.url}`);
}

export async function infraUp(options: { kafkaTimeoutMs?: number } = {}): Promise<InfraState> {
  const existing = readState();
  const pids = existing
    ? [...existing.kafka.pids, ...existing.redis.pids, ...(existing.schemaRegistry?.pids ?? [])]
    : [];
  if (existing?.schemaRegistry && existing.ready !== false && pids.every((pid) => processAlive(pid)))
    return existing;
  if (existing) await infraDown();
  ensureDir(cacheDir);
  const state: InfraState = {
    ready: false,
    kafka: { brokers: [], pids: [], dataDir: '' },
    redis: { url: '', pids: [] },
    started: [],
    startedAt: new Date().toISOString(),
  };
  writeState(state);
  const record = (started: StartedProcess) => {
    state.started!.push(started);
    writeState(state);
    console.error(`started ${started.name} (pid ${started.pid}, data in ${started.dataDir})`);
  };
  // allSettled, not all: when one side fails, the other must have finished starting before `down`.
  const [kafka, redis] = await Promise.allSettled([
    startKafka({
      detached: true,
      keep: true,
      readyTimeoutMs: options.kafkaTimeoutMs ?? 90_000,
      onProcess: record,
    }),
    startRedis({ detached: true, keep: true, onProcess: record }),
  ]);
  const registry = await startSchemaRegistry({ detached: true, keep: true }).catch((error: Error) => error);
  if (!(registry instanceof Error)) {
    record({ name: 'schema-registry', pid: registry.process.child.pid!, dataDir: '' });
    state.schemaRegistry = { url: registry.url, pids: [registry.process.child.pid!] };
  }
  if (kafka.status === 'rejected' || redis.status === 'rejected' || registry instanceof Error) {
    const reason =
      kafka.status === 'rejected' || redis.status === 'rejected'
        ? ((kafka.status === 'rejected' ? kafka.reason : (redis as PromiseRejectedResult).reason) as Error)
            .message
        : (registry as Error).message;
    console.error('infra up failed; stopping what it started');
    await infraDown();
    throw new Error(
      `${reason}\nA busy machine may need longer: npm run infra -- up --kafka-timeout 300 (or KAPPAFLOW_KAFKA_TIMEOUT=300)`,
    );
  }
  state.kafka = {
    brokers: kafka.value.brokers,
    pids: kafka.value.nodes.map((n) => n.process.child.pid!),
    dataDir: kafka.value.dataDir,
  };
  state.redis = { url: redis.value.url, pids: redis.value.nodes.map((n) => n.process.child.pid!) };
  state.ready = true;
  writeState(state);
  return state;
}

/** Stops every process `up` recorded (also those of an `up` that failed or was killed) and removes their data. */
export async function infraDown(): Promise<void> {
  const state = readState();
  if (!state) return;
  const pids = [
    ...new Set([...state.kafka.pids, ...state.redis.pids, ...(state.started ?? []).map((s) => s.pid)]),
  ];
  for (const pid of pids) {
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 20_000;
  while (pids.some((pid) => processAlive(pid)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  const dataDirs = new Set([...(state.started ?? []).map((s) => s.dataDir), state.kafka.dataDir]);
  for (const dir of dataDirs) if (dir) rmSync(dir, { recursive: true, force: true });
  rmSync(stateFile, { force: true });
}

/**
 * `up --node` / `up --nodes N`: N real nodes (real-node.ts) left running; `down` stops all of them
 * and restores the kernel settings.
 */
async function nodeUp(nodes: number): Promise<void> {
  const { startRealNode } = await import('./real-node.ts');
  const node = await startRealNode({ detached: true, keep: true, nodes });
  const names = node.nodes.map((n) => n.name).join(', ');
  console.log(`\nReal node${nodes > 1 ? 's' : ''} ${names} Ready; image ${node.image.name}`);
  console.log(`export KUBECONFIG=${node.api.kubeconfigPath}`);
}

async function main(command: string | undefined) {
  switch (command) {
    case 'up': {
      // both parsed first: a bad option fails before anything starts
      const timeout = kafkaTimeoutMs(process.argv);
      const nodes = nodeCount(process.argv);
      print(await infraUp({ kafkaTimeoutMs: timeout }));
      if (nodes > 0) await nodeUp(nodes);
      break;
    }
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
      const { recordedNode } = await import('./real-node.ts');
      const node = recordedNode();
      if (node) console.log(`real nodes: ${node.running} of ${node.kubelets} kubelets running (${node.dir})`);
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
      console.error(
        'usage: npm run infra -- up [--kafka-timeout <seconds>] [--node | --nodes <1-8>] | down | status | provision [--kube] [--node]',
      );
      process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  try {
    await main(process.argv[2]);
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
