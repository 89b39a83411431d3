#!/usr/bin/env node
// The `kappaflow` command. The sources are TypeScript run without a build step, so the tsx
// loader is registered before the CLI is imported.
// First, and alone: a static import of tsx would be loaded before this module runs.
import './startup-signals.js';

const { register } = await import('tsx/esm/api');
register();
// Before anything loads kafkajs: a correct read_committed filter in place of its own.
await import('../processor/src/kafka/read-committed.ts');
const { main } = await import('../processor/src/cli/main.ts');
const code = await main(process.argv);
// A command that failed after opening servers or connections (e.g. `run` meeting an error while
// preparing its topics) must not linger half-started: exit so a supervisor starts a fresh one.
if (code !== 0) process.exit(code);
process.exitCode = code;
