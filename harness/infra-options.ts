// The options of `npm run infra -- up`, parsed from the command line with an error that says what to
// type instead (harness/cli.ts).

/** How long `up` waits for Kafka: --kafka-timeout <s>, else KAPPAFLOW_KAFKA_TIMEOUT (s), else 90 s. */
export function kafkaTimeoutMs(
  argv: string[],
  env: string | undefined = process.env.KAPPAFLOW_KAFKA_TIMEOUT,
): number {
  const i = argv.indexOf('--kafka-timeout');
  const raw = i >= 0 ? argv[i + 1] : env;
  if (raw === undefined) return 90_000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new Error(`--kafka-timeout expects seconds, e.g. --kafka-timeout 300; got ${JSON.stringify(raw)}`);
  }
  return seconds * 1000;
}

/**
 * Each node is a kubelet and a containerd of its own (about 150 MB of memory, and a copy of the
 * 214 MB image in its containerd root): more than this only exhausts a test machine.
 */
export const MAX_NODES = 8;

/**
 * How many real nodes `up` starts: 0 without `--node` or `--nodes`, 1 with `--node`, N with
 * `--nodes N` (which implies `--node`).
 */
export function nodeCount(argv: string[]): number {
  const i = argv.indexOf('--nodes');
  if (i < 0) return argv.includes('--node') ? 1 : 0;
  const raw = argv[i + 1];
  const n = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= MAX_NODES)) {
    throw new Error(
      `--nodes expects a whole number of nodes from 1 to ${MAX_NODES}, e.g. --nodes 3; got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`,
    );
  }
  return n;
}
