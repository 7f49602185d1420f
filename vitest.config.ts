import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Boots under TCG take tens of seconds; suites that need one set their own timeouts.
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
