import { defineConfig } from "vitest/config";

// These tests start real processes (the CLI, pipeline workers); on a busy two-core machine one
// can take several seconds, so the default 5 s per test is too tight. The PostgreSQL tests share
// one real server for the run (tools/postgres-global-setup.mjs), each store in a database of its
// own (test/backends.ts).
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ["../../tools/postgres-global-setup.mjs"],
  },
});
