import { defineConfig } from "vitest/config";

// These tests start real processes (the CLI, pipeline workers); on a busy two-core machine one
// can take several seconds, so the default 5 s per test is too tight.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 60_000 } });
