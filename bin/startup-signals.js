// Imported first by bin/kappaflow.js, so it runs before anything else loads: until a command handles
// SIGTERM/SIGINT itself (onStopSignal in processor/src/cli/signals.ts, which removes these), they end
// the process at once with the shell's code for the signal. In a container the process is PID 1, and
// the kernel drops every signal PID 1 has no handler for: without these, a pod deleted while still
// loading (or waiting for Kafka) would wait out its whole grace period and then be SIGKILLed.
// SIGKILL (a crash, an OOM kill) cannot be handled and is untouched.
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
