// Entry point of the `kappaflow` CLI (bin/kappaflow.js, or `node --import tsx processor/src/cli/main.ts`).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { commands } from './commands.ts';

export function buildProgram(): Command {
  const program = new Command('kappaflow')
    .description('Kappa-architecture stream processing: Kafka in, exactly-once windowed aggregates in Redis.')
    .version(process.env.npm_package_version ?? '0.1.0', '-V, --version')
    .showHelpAfterError('(run kappaflow --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ kappaflow validate examples/page-views.yaml     check a pipeline file (line:column for each error)
  $ kappaflow validate examples/                    check every .yaml/.yml file in a folder
  $ kappaflow <command> --help                      details and examples for one command

Pipeline reference: docs/pipeline-spec.md`,
    );
  for (const make of commands) program.addCommand(make());
  return program;
}

/** Runs the CLI with `argv` (as process.argv) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    console.error(`kappaflow: ${(e as Error)?.stack ?? e}`);
    return 2;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv);
  // As in bin/kappaflow.js: a failed start must not hang alive on open connections.
  if (process.exitCode !== 0) setTimeout(() => process.exit(), 2000).unref();
}
