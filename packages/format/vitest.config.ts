import { defineConfig } from "vitest/config";

// The grammar test reads every file name of the fixture head trees (about 2 000) and the
// JSON Schema cross-check compiles the schema once; on a busy two-core machine (CI runs every
// package) that can pass the default 5 s, so the limit is the siblings' one.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 120_000 } });
