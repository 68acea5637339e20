import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/differential/ compares against upstream binaries Debian does not ship (npm run test:mkcomposefs).
    include: process.env.VERITREE_DIFFERENTIAL === '1' ? ['test/differential/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: process.env.VERITREE_DIFFERENTIAL === '1' ? [] : ['test/differential/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2-core CI machines: keep test files from fighting each other for CPU.
    maxWorkers: 2,
    // vitest's own report, then one summary: totals, skips with their reasons, kernel suites.
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
