#!/usr/bin/env node
// The `kappaflow` command. The sources are TypeScript run without a build step, so the tsx
// loader is registered before the CLI is imported.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../processor/src/cli/main.ts');
process.exitCode = await main(process.argv);
