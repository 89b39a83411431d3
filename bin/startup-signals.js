// Imported first by bin/kappaflow.js, so it runs before anything else loads: until a command handles
// SIGTERM/SIGINT itself (processor/src/cli/signals.ts), they end the process at once. In a container
// the process is PID 1, which the kernel spares every signal it has no handler for, so a pod deleted
// while still loading would otherwise wait out its whole grace period.
for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
]) {
  const exitNow = () => {
    process.stderr.write(`kappaflow: ${signal} during start-up, exiting\n`);
    process.exit(code);
  };
  exitNow[Symbol.for('kappaflow.startupSignal')] = true;
  process.on(signal, exitNow);
}
