/**
 * A progress line for long set-up steps (downloading jars, building the API server) so a newcomer
 * sees what is happening and how long it has taken. On a terminal it redraws one line; in CI logs it
 * prints a line every 20 seconds.
 */
export async function withProgress<T>(label: string, work: () => Promise<T>, expected?: string): Promise<T> {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  const hint = expected ? ` (usually ${expected})` : '';
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  process.stderr.write(`▶ ${label}${hint}${tty ? '' : '\n'}`);
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  const timer = setInterval(
    () => {
      if (tty) process.stderr.write(`\r${frames[frame++ % frames.length]} ${label}${hint} ${elapsed()}   `);
      else process.stderr.write(`  … ${label}: ${elapsed()}\n`);
    },
    tty ? 200 : 20_000,
  );
  try {
    const result = await work();
    process.stderr.write(`${tty ? '\r' : ''}✔ ${label} in ${elapsed()}            \n`);
    return result;
  } catch (error) {
    process.stderr.write(`${tty ? '\r' : ''}✘ ${label} failed after ${elapsed()}\n`);
    throw error;
  } finally {
    clearInterval(timer);
  }
}
