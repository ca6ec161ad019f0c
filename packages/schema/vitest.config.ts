import { defineConfig } from "vitest/config";

// Many tests here run NumPy or other processes as references; on a busy two-core machine (CI
// runs every package) one can take several seconds, so the default 5 s per test is too tight.
// The PostgreSQL tests share one server for the run (tools/postgres-global-setup.mjs), each on
// databases of its own.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ["../../tools/postgres-global-setup.mjs"],
  },
});
