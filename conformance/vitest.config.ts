import { defineConfig } from "vitest/config";

// The round trip (CLI, go build, cargo build) and the packed-package test (npm install, which
// compiles better-sqlite3) take minutes on a two-core machine; they set their own timeouts.
export default defineConfig({
  test: { include: ["ts/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 600_000 },
});
