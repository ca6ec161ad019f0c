import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

type TfModule = typeof import("../src/index.js");

/** A fresh copy of the module (its once-per-thread state reset); tfjs-core's engine is shared. */
async function freshModule(): Promise<TfModule> {
  vi.resetModules();
  return import("../src/index.js");
}

const require = createRequire(import.meta.url);
function tfjsNodeAddonBuilt(): boolean {
  try {
    const lib = path.join(
      path.dirname(require.resolve("@tensorflow/tfjs-node/package.json")),
      "lib",
    );
    return (
      existsSync(lib) &&
      readdirSync(lib).some((d) => existsSync(path.join(lib, d, "tfjs_binding.node")))
    );
  } catch {
    return false;
  }
}

let stderr: string[];
const savedEnv = process.env.LDAKIT_TF_BACKEND;

beforeEach(() => {
  stderr = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  delete process.env.LDAKIT_TF_BACKEND;
});

afterEach(() => {
  vi.restoreAllMocks();
  if (savedEnv === undefined) delete process.env.LDAKIT_TF_BACKEND;
  else process.env.LDAKIT_TF_BACKEND = savedEnv;
});

const requiredBackends = (process.env.LDAKIT_REQUIRE_TF_BACKENDS ?? "").split(",");

describe("listTfBackends", () => {
  it("says which backends load, with versions and threads, and why one does not", async () => {
    const { listTfBackends } = await freshModule();
    const list = await listTfBackends();
    expect(list.map((b) => b.name)).toEqual(["tensorflow", "wasm", "cpu"]);
    const [native, wasm, cpu] = list;
    expect(wasm).toMatchObject({
      available: true,
      version: "tfjs-backend-wasm 4.22.0",
      threads: 1,
    });
    expect(cpu).toMatchObject({ available: true, version: "tfjs-backend-cpu 4.22.0", threads: 1 });
    if (tfjsNodeAddonBuilt() || requiredBackends.includes("tensorflow")) {
      expect(native).toMatchObject({
        available: true,
        version: "tfjs-node 4.22.0, TensorFlow 2.20.0",
        description: "tensorflow (tfjs-node)",
      });
      expect(native?.threads).toBeGreaterThanOrEqual(1);
    } else {
      expect(native?.available).toBe(false);
      expect(native?.reason).toContain("ldakit backend install tensorflow");
    }
  });
});

describe("getTf", () => {
  it("chooses once, reports once, and the backend computes (offline)", async () => {
    const { getTf } = await freshModule();
    // The first backend initialisation of this process happens here: nothing may be fetched.
    const fetchSpy = vi.fn(() => {
      throw new Error("no network in this test");
    });
    vi.stubGlobal("fetch", fetchSpy);
    const a = await getTf();
    const b = await getTf();
    vi.unstubAllGlobals();
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(b).toBe(a);
    expect(["tensorflow", "wasm", "cpu"]).toContain(a.backend);
    // Native TensorFlow first when its addon is built (ldakit backend install tensorflow), else wasm.
    expect(a.backend).toBe(tfjsNodeAddonBuilt() ? "tensorflow" : "wasm");
    if (a.backend === "wasm") {
      expect(a.skipped.join("\n")).toContain("ldakit backend install tensorflow");
    }
    const lines = stderr.filter((s) => s.startsWith("ldakit: TensorFlow.js backend:"));
    expect(lines).toEqual([`ldakit: TensorFlow.js backend: ${a.description}\n`]);
    const { tf } = a;
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    y.dispose();
    expect(tf.getBackend()).toBe(a.backend);
  });

  it("loads the wasm backend (SIMD) offline, from node_modules", async () => {
    const { getTf } = await freshModule();
    const fetchSpy = vi.fn(() => {
      throw new Error("no network in this test");
    });
    vi.stubGlobal("fetch", fetchSpy);
    try {
      const rt = await getTf({ backend: "wasm" });
      expect(rt.backend).toBe("wasm");
      expect(rt.simd).toBe(true);
      expect(rt.description).toBe("wasm (SIMD)");
      expect(rt.tf.getBackend()).toBe("wasm");
      const e = rt.tf.erf(rt.tf.tensor1d([0.5, -1]));
      const v = await e.data();
      e.dispose();
      expect(v[0]).toBeCloseTo(0.5204998778, 6);
      expect(v[1]).toBeCloseTo(-0.8427007929, 6);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("LDAKIT_TF_BACKEND=cpu forces the cpu backend", async () => {
    process.env.LDAKIT_TF_BACKEND = "cpu";
    const { getTf } = await freshModule();
    const rt = await getTf();
    expect(rt.backend).toBe("cpu");
    expect(rt.tf.getBackend()).toBe("cpu");
    expect(stderr.join("")).toContain("ldakit: TensorFlow.js backend: cpu\n");
    const s = rt.tf.sum(rt.tf.tensor1d([1, 2, 3]));
    expect((await s.data())[0]).toBe(6);
    s.dispose();
  });

  // Where the tfjs-node addon is built, "node" loads, so there is no failing backend to force.
  it.skipIf(tfjsNodeAddonBuilt())(
    `a forced backend that cannot load is an error, not a fallback${tfjsNodeAddonBuilt() ? " (skipped: the tfjs-node addon is built here, so node loads)" : ""}`,
    async () => {
      process.env.LDAKIT_TF_BACKEND = "node";
      const { getTf, TfBackendError } = await freshModule();
      const p = getTf();
      await expect(p).rejects.toBeInstanceOf(TfBackendError);
      await expect(p).rejects.toThrow(/tfjs-node/);
      expect(stderr.join("")).not.toContain("ldakit: TensorFlow.js backend:");
    },
  );

  it("rejects an unknown LDAKIT_TF_BACKEND value", async () => {
    process.env.LDAKIT_TF_BACKEND = "gpu";
    const { getTf } = await freshModule();
    expect(() => getTf()).toThrow(/LDAKIT_TF_BACKEND="gpu".*node, wasm, cpu/);
  });

  it("refuses to switch backend once chosen", async () => {
    const { getTf } = await freshModule();
    const rt = await getTf({ backend: "wasm" });
    expect(rt.backend).toBe("wasm");
    await expect(getTf({ backend: "wasm" })).resolves.toBe(rt);
    await expect(getTf({ backend: "auto" })).resolves.toBe(rt);
    await expect(getTf({ backend: "cpu" })).rejects.toThrow(/already chosen/);
  });

  it("report: false keeps stderr quiet", async () => {
    const { getTf } = await freshModule();
    await getTf({ report: false });
    expect(stderr.join("")).not.toContain("ldakit: TensorFlow.js backend:");
  });
});

describe("helpers", () => {
  it("parseBackendRequest and backendLabel", async () => {
    const { parseBackendRequest, backendLabel } = await freshModule();
    expect(parseBackendRequest(undefined)).toBe("auto");
    expect(parseBackendRequest("")).toBe("auto");
    expect(parseBackendRequest("NODE")).toBe("node");
    expect(parseBackendRequest("tensorflow")).toBe("node");
    expect(parseBackendRequest("wasm")).toBe("wasm");
    expect(parseBackendRequest(" cpu ")).toBe("cpu");
    expect(() => parseBackendRequest("webgl")).toThrow(/not a TensorFlow.js backend/);
    expect(backendLabel("wasm")).toBe("tfjs-wasm");
    expect(backendLabel("cpu")).toBe("tfjs-cpu");
    expect(backendLabel("tensorflow")).toBe("tfjs-node");
  });
});
