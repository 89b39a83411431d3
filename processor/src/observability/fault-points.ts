/**
 * Fault points for the failure tests: `KAPPAFLOW_FAULT=<point>:<n>` makes the process SIGKILL itself
 * the n-th time it reaches `<point>`, so a test lands a crash exactly where a random SIGKILL rarely
 * does (e.g. between a Kafka send and the Redis trim that follows it). `<point>:<n>:stop` freezes it
 * there instead (SIGSTOP; the test sends SIGCONT), e.g. a zombie holding a batch it has not committed.
 * Unset, a point costs one comparison.
 */
const [faultPoint, faultAt, faultAction] = (process.env.KAPPAFLOW_FAULT ?? '').split(':');
let reached = 0;

export function crashPoint(point: string): void {
  if (point !== faultPoint) return;
  if (++reached === Number(faultAt ?? 1))
    process.kill(process.pid, faultAction === 'stop' ? 'SIGSTOP' : 'SIGKILL');
}
