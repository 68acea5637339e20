import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2-core CI machines: keep test files from fighting each other for CPU.
    maxWorkers: 2,
    // vitest's own report, then one summary: totals, skips with their reasons, kernel suites.
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
