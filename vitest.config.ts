import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql instance for ESM and CommonJS importers, else "Cannot use GraphQLSchema from
    // another module or realm".
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Dovecot and PostgreSQL instances are private per test file; files run in parallel.
    pool: 'forks',
    // Two files at a time even on a 2-core machine (vitest's default there is one): most files
    // wait on sockets and timers, not the CPU; one worker took 4.5-6 min, two about 3-4.5.
    maxWorkers: 2,
    // A test CA per run for the fake Microsoft Graph, trusted by the workers through
    // NODE_EXTRA_CA_CERTS (read only at process start, so it is set before the forks start).
    globalSetup: ['test/support/fake-graph/global-setup.ts'],
  },
});
