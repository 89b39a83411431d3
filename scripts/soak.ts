/**
 * `npm run soak -- --minutes 30 [--rate 1000]`: the soak drill (test/soak/soak.test.ts), not in CI.
 * Records flow at `--rate` records/s (pick half the rate `npm run bench` measured) while a replica
 * is SIGKILLed every minute; at the end the aggregates must equal the ground truth, and the memory
 * of the replica that was never killed is reported as a slope.
 */
import { spawnSync } from 'node:child_process';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (argv[i + 1] ?? fallback);
};
const minutes = option('minutes', '30');
const rate = option('rate', '1000');
if (!(Number(minutes) > 0) || !(Number(rate) > 0)) {
  console.error('usage: npm run soak -- --minutes <n> [--rate <records per second>]');
  process.exit(2);
}
const result = spawnSync('npx', ['vitest', 'run', '--project', 'drills'], {
  stdio: 'inherit',
  env: { ...process.env, KAPPAFLOW_DRILLS: '1', KAPPAFLOW_SOAK_MINUTES: minutes, KAPPAFLOW_SOAK_RATE: rate },
});
process.exit(result.status ?? 1);
