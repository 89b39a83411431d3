#!/usr/bin/env node
// The `kappaflow` command. The sources are TypeScript run without a build step, so the tsx
// loader is registered before the CLI is imported.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../processor/src/cli/main.ts');
process.exitCode = await main(process.argv);
// A start that failed half-way (e.g. Kafka refused a request) can leave the HTTP server and client
// connections open: exit instead of hanging alive without processing, so a supervisor restarts it.
if (process.exitCode !== 0) setTimeout(() => process.exit(), 2000).unref();
