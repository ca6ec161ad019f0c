/**
 * `ldakit backend list|install|remove` as a user runs them, and `ldakit embed` choosing the native
 * backend by itself once it is installed. The install that matters (from PyPI) runs in CI's setup
 * (`.ci/run`) and in @ldakit/tf's own tests; here it is the command line around it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path, { join } from "node:path";
import { fetchModel } from "@ldakit/embed";
import { describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const repoRoot = path.resolve(import.meta.dirname, "..", "..", "..");

function ldakit(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether the tfjs-node that @ldakit/tf loads has its addon, without loading it here. */
function tensorflowAddon(): string | undefined {
  // Resolved from @ldakit/tf, as it resolves its optional dependency.
  const tfRequire = createRequire(createRequire(import.meta.url).resolve("@ldakit/tf"));
  try {
    const dir = path.dirname(tfRequire.resolve("@tensorflow/tfjs-node/package.json"));
    const lib = join(dir, "lib");
    if (!existsSync(lib)) return undefined;
    for (const d of readdirSync(lib)) {
      const addon = join(lib, d, "tfjs_binding.node");
      if (existsSync(addon)) return addon;
    }
  } catch {}
  return undefined;
}

const addon = tensorflowAddon();
const required = (process.env.LDAKIT_REQUIRE_TF_BACKENDS ?? "").split(",").includes("tensorflow");
const haveNative = addon !== undefined || required;

describe("ldakit backend", () => {
  it("list --json: wasm and cpu always, tensorflow as installed, each with version and threads", () => {
    const r = ldakit(["--json", "backend", "list"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      default: string;
      backends: Array<{
        name: string;
        available: boolean;
        reason: string | null;
        version: string | null;
        threads: number | null;
      }>;
    };
    const by = Object.fromEntries(out.backends.map((b) => [b.name, b]));
    expect(by.wasm).toMatchObject({
      available: true,
      version: "tfjs-backend-wasm 4.22.0",
      threads: 1,
    });
    expect(by.cpu).toMatchObject({ available: true, threads: 1 });
    if (haveNative) {
      expect(by.tensorflow).toMatchObject({
        available: true,
        version: "tfjs-node 4.22.0, TensorFlow 2.20.0",
      });
      expect(out.default).toBe("tensorflow");
    } else {
      expect(by.tensorflow?.available).toBe(false);
      expect(by.tensorflow?.reason).toContain("ldakit backend install tensorflow");
      expect(out.default).toBe("wasm");
    }
  });

  it("install refuses what it cannot install, and a build it cannot do, before any download", () => {
    const wasm = ldakit(["backend", "install", "wasm"]);
    expect(wasm.code).toBe(2);
    expect(wasm.stderr).toContain("only the tensorflow backend is installed separately");
    const noHeaders = ldakit([
      "backend",
      "install",
      "tensorflow",
      "--nodedir",
      "/nonexistent/node",
    ]);
    expect(noHeaders.code).toBe(1);
    expect(noHeaders.stderr).toMatch(
      /NO_NODE_HEADERS: Node's headers are not at \/nonexistent\/node\/include\/node/,
    );
    expect(noHeaders.stderr).not.toMatch(/download/);
  });

  it("install names the missing compiler, before any download", () => {
    // A PATH with Python (and pip) and make, but no C++ compiler.
    const bin = mkdtempSync(join(tmpdir(), "ldakit-nocxx-"));
    try {
      for (const tool of ["python3", "make"]) {
        const found = spawnSync("sh", ["-c", `command -v ${tool}`], {
          encoding: "utf8",
        }).stdout.trim();
        expect(found, `${tool} must be installed for this test`).not.toBe("");
        symlinkSync(found, join(bin, tool));
      }
      const r = ldakit(["backend", "install", "tensorflow", "--force"], { PATH: bin });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("NO_COMPILER: no C++ compiler (c++ or g++) on PATH");
      expect(r.stderr).not.toMatch(/download/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  describe.skipIf(!haveNative)(
    `once installed${haveNative ? "" : " (skipped: the tensorflow backend is not installed here; ldakit backend install tensorflow)"}`,
    () => {
      it("install again is a no-op that says so", () => {
        expect(
          addon,
          "the addon must be built (LDAKIT_REQUIRE_TF_BACKENDS names tensorflow)",
        ).toBeDefined();
        const before = statSync(addon as string).mtimeMs;
        const r = ldakit(["backend", "install", "tensorflow"]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain("tensorflow 2.20.0: already installed (nothing to do)");
        expect(statSync(addon as string).mtimeMs).toBe(before);
      });

      it("ldakit embed uses it with no flag, and agrees with wasm", async () => {
        const model = await fetchModel("all-MiniLM-L6-v2", {
          cacheDir: process.env.LDAKIT_CACHE ?? join(repoRoot, ".cache", "ldakit"),
          hubTimeoutMs: 3000,
        });
        const texts = ["How do I open a store on PostgreSQL?", "Ünïcödé, 中文 and emoji 🚀", ""];
        const args = ["embed", "--model", "all-MiniLM-L6-v2", "--model-dir", model.dir, ...texts];
        const native = ldakit(args, { LDAKIT_TF_BACKEND: "" });
        expect(native.code, native.stderr).toBe(0);
        expect(native.stderr).toContain("ldakit: TensorFlow.js backend: tensorflow (tfjs-node)");
        expect(native.stderr).not.toMatch(/cpu_feature_guard|oneDNN/);
        const wasm = ldakit(args, { LDAKIT_TF_BACKEND: "wasm" });
        expect(wasm.code, wasm.stderr).toBe(0);
        expect(wasm.stderr).toContain("ldakit: TensorFlow.js backend: wasm (SIMD)");
        const a = (JSON.parse(native.stdout) as { vectors: number[][] }).vectors;
        const b = (JSON.parse(wasm.stdout) as { vectors: number[][] }).vectors;
        expect(a).toHaveLength(3);
        for (const [i, v] of a.entries()) {
          const w = b[i] as number[];
          let dot = 0;
          let maxDiff = 0;
          for (const [k, x] of v.entries()) {
            dot += x * (w[k] as number);
            maxDiff = Math.max(maxDiff, Math.abs(x - (w[k] as number)));
          }
          expect(maxDiff).toBeLessThanOrEqual(1e-4);
          expect(dot).toBeGreaterThanOrEqual(0.99999);
        }
      }, 300_000);
    },
  );
});
