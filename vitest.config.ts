import { defineConfig } from 'vitest/config';

// Test tiers by file suffix (see docs/testing.md):
//   *.test.ts         fast, no I/O beyond temp dirs and in-process sockets
//   *.int.test.ts     real SQLite, real sockets across processes, real model
//   *.docker.test.ts  real Docker engine; skipped with a printed reason where none is reachable
//   *.browser.test.ts real headless Chromium (Debian's, driven by playwright-core) against a real
//                     orchestrator; skipped with a printed reason where no Chromium is installed
export default defineConfig({
  test: {
    // The JSON report lets `.ci/run` print a plain "N passed, N failed" line at the end.
    reporters: ['default', ['json', { outputFile: '.reports/vitest.json' }]],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'db-module/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.docker.test.ts', '**/*.browser.test.ts', '**/node_modules/**'],
          testTimeout: 30_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'int',
          include: ['packages/*/src/**/*.int.test.ts', 'db-module/src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'docker',
          include: ['packages/*/src/**/*.docker.test.ts', 'test/**/*.docker.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'browser',
          include: ['packages/*/src/**/*.browser.test.ts', 'test/**/*.browser.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          pool: 'forks',
        },
      },
    ],
  },
});
