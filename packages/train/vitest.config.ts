import { defineConfig } from "vitest/config";

// The files that check the math against NumPy (and determinism) run once per TensorFlow.js
// backend: getTf decides once per thread, and auto would test only tensorflow wherever the
// addon is installed. tensorflow is skipped with the reason where it does not load, unless
// LDAKIT_REQUIRE_TF_BACKENDS names it (test/backends.ts).
const perBackend = [
  "test/math.test.ts",
  "test/adapter.test.ts",
  "test/train.test.ts",
  "test/determinism.test.ts",
];

// These tests start real processes (the CLI, pipeline workers); on a busy two-core machine one
// can take several seconds, so the default 5 s per test is too tight.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "tensorflow",
          include: perBackend,
          env: { LDAKIT_TF_BACKEND: "node", TF_CPP_MIN_LOG_LEVEL: "2" },
        },
      },
      {
        extends: true,
        test: { name: "wasm", include: perBackend, env: { LDAKIT_TF_BACKEND: "wasm" } },
      },
      {
        extends: true,
        test: { name: "auto", include: ["test/**/*.test.ts"], exclude: perBackend },
      },
    ],
  },
});
