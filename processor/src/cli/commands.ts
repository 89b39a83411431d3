// The CLI's subcommands. To add one, write a factory returning a commander Command in its own
// file (e.g. run.ts exporting runCommand()) and append it here; main.ts registers the list.
// A command's action sets process.exitCode (it does not call process.exit) so output is flushed.
import type { Command } from 'commander';
import { operatorCommand } from './operator.ts';
import { planCommand } from './plan.ts';
import { runCommand } from './run.ts';
import { serveCommand } from './serve.ts';
import { validateCommand } from './validate.ts';

export const commands: Array<() => Command> = [
  validateCommand,
  planCommand,
  runCommand,
  serveCommand,
  operatorCommand,
];
