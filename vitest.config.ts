import { configDefaults, defineConfig } from 'vitest/config';

// Before any test loads kafkajs: its read_committed filter is replaced by a correct one, as in
// bin/kappaflow.js (see the module).
const READ_COMMITTED = 'processor/src/kafka/read-committed.ts';

// Three levels, each runnable alone (`npm run test:unit|test:integration|test:e2e`):
// unit: pure logic, no services; integration: real Kafka + Redis started once per run by the global
// setup; e2e: the real Kubernetes API server, the operator and processor processes.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'processor/**/*.test.ts', 'operator/**/*.test.ts'],
          setupFiles: [READ_COMMITTED],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          setupFiles: [READ_COMMITTED],
          globalSetup: ['harness/global-setup.ts'],
          // Services are shared and the machine has two cores: one heavy file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 240_000,
        },
      },
      // Long failure drills on real processes: only `npm run drills` (which sets KAPPAFLOW_DRILLS), not `npm test`.
      ...(process.env.KAPPAFLOW_DRILLS
        ? [
            {
              test: {
                name: 'drills',
                // `npm run soak` runs only the soak (minutes long), `npm run drills` everything else.
                include: process.env.KAPPAFLOW_SOAK_MINUTES
                  ? ['test/soak/**/*.test.ts']
                  : ['test/drills/**/*.test.ts'],
                globalSetup: ['harness/global-setup.ts'],
                setupFiles: [READ_COMMITTED],
                fileParallelism: false,
                testTimeout: 1_800_000,
                hookTimeout: 600_000,
              },
            },
          ]
        : []),
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The three-node scale-out file (2.5-5 min) and the two-node limits file (PDB, OOM kill)
          // run in `npm run test:node` only; the real-node smoke and failure files stay in `npm test`.
          exclude: process.env.KAPPAFLOW_NODE_FULL
            ? configDefaults.exclude
            : [...configDefaults.exclude, 'test/e2e/node/scale.test.ts', 'test/e2e/node/limits.test.ts'],
          setupFiles: [READ_COMMITTED],
          globalSetup: ['harness/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
