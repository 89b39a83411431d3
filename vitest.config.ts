import { defineConfig } from 'vitest/config';

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
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['harness/global-setup.ts'],
          // Services are shared and the machine has two cores: one heavy file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 240_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['harness/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
