/**
 * The native backend's installer, through its public API. Every test installs into a private copy
 * of the tfjs-node package and a private cache where it can, so the copy the rest of the
 * workspace loads is never touched.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  defaultTfCacheDir,
  INSTALL_RECORD_FILE,
  installTensorflowBackend,
  readTensorflowInstallRecord,
  removeTensorflowBackend,
  resolveTfjsNodeDir,
  TENSORFLOW_WHEEL,
  TfInstallError,
  type TfInstallProgress,
} from "../src/index.js";

const temps: string[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
});

function temp(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** A copy of the tfjs-node package without any native part: what a fresh `pnpm install` leaves. */
function tfjsNodeCopy(): string {
  const source = resolveTfjsNodeDir();
  if (source === undefined)
    throw new Error("@tensorflow/tfjs-node is not installed in the workspace");
  const dest = path.join(temp("ldakit-tfjs-node-"), "tfjs-node");
  cpSync(source, dest, {
    recursive: true,
    filter: (p) => {
      const rel = path.relative(source, p);
      return !/^(deps|build|node_modules)(\/|$)/.test(rel) && !rel.endsWith("tfjs_binding.node");
    },
  });
  return dest;
}

/** The libraries `ldakit backend install tensorflow` unpacked into this user's cache, if it ran. */
const cachedLibraries = path.join(
  defaultTfCacheDir(),
  "tensorflow",
  TENSORFLOW_WHEEL.tensorflowVersion,
);
const cacheIsFilled = existsSync(path.join(cachedLibraries, "wheel.json"));
const required = (process.env.LDAKIT_REQUIRE_TF_BACKENDS ?? "").split(",").includes("tensorflow");

async function installError(p: Promise<unknown>): Promise<TfInstallError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TfInstallError) return e;
    throw e;
  }
  throw new Error("the install succeeded where it should have failed");
}

function leftovers(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe("installTensorflowBackend refuses early, leaving nothing behind", () => {
  it("says where Node's headers were looked for when they are missing", async () => {
    const tfjsNodeDir = tfjsNodeCopy();
    const cacheDir = temp("ldakit-cache-");
    const e = await installError(
      installTensorflowBackend({ tfjsNodeDir, cacheDir, nodeDir: temp("no-node-") }),
    );
    expect(e.code).toBe("NO_NODE_HEADERS");
    expect(e.message).toMatch(/include\/node.*node_api\.h.*--nodedir/s);
    expect(leftovers(cacheDir)).toEqual([]);
    expect(existsSync(path.join(tfjsNodeDir, "deps"))).toBe(false);
  });

  it("checks the wheel's SHA-256 and uses nothing from a wrong file", async () => {
    const tfjsNodeDir = tfjsNodeCopy();
    const cacheDir = temp("ldakit-cache-");
    const wheel = path.join(temp("wheel-"), TENSORFLOW_WHEEL.filename);
    writeFileSync(wheel, "not the wheel");
    const e = await installError(installTensorflowBackend({ tfjsNodeDir, cacheDir, wheel }));
    expect(e.code).toBe("CHECKSUM_MISMATCH");
    expect(e.message).toContain(TENSORFLOW_WHEEL.sha256);
    expect(e.message).toContain(wheel);
    expect(leftovers(cacheDir).filter((p) => !p.startsWith("tensorflow"))).toEqual([]);
    expect(leftovers(path.join(cacheDir, "tensorflow"))).toEqual([]);
    expect(existsSync(path.join(tfjsNodeDir, "deps"))).toBe(false);
  });

  it("says to pass --wheel when the package index cannot be reached, and cleans the download", async () => {
    const tfjsNodeDir = tfjsNodeCopy();
    const cacheDir = temp("ldakit-cache-");
    // A Python whose pip answers but cannot reach the index, as on a closed network.
    const bin = temp("offline-python-");
    const python = path.join(bin, "python3");
    writeFileSync(
      python,
      `#!/bin/sh\nfor a in "$@"; do if [ "$a" = download ]; then echo "ERROR: Could not find a version that satisfies the requirement (network unreachable)" >&2; exit 1; fi; done\nexec python3 "$@"\n`,
    );
    chmodSync(python, 0o755);
    const steps: TfInstallProgress["step"][] = [];
    const e = await installError(
      installTensorflowBackend({
        tfjsNodeDir,
        cacheDir,
        python,
        onProgress: (p) => steps.push(p.step),
      }),
    );
    expect(e.code).toBe("DOWNLOAD_FAILED");
    expect(e.message).toMatch(/network unreachable.*--wheel FILE/s);
    expect(steps).toEqual(expect.arrayContaining(["check", "download"]));
    expect(leftovers(path.join(cacheDir, "tensorflow"))).toEqual([]);
    expect(existsSync(path.join(tfjsNodeDir, "deps"))).toBe(false);
  });
});

describe.skipIf(!cacheIsFilled && !required)(
  `installing from the unpacked libraries${cacheIsFilled ? "" : ` (skipped: ${cachedLibraries} is empty; run ldakit backend install tensorflow)`}`,
  () => {
    it("builds the addon into a fresh tfjs-node, loads it, is idempotent, and is removed again", async () => {
      expect(cacheIsFilled, `${cachedLibraries} must hold the unpacked wheel`).toBe(true);
      const tfjsNodeDir = tfjsNodeCopy();
      const first = await installTensorflowBackend({ tfjsNodeDir, cacheDir: defaultTfCacheDir() });
      expect(first.status).toBe("installed");
      expect(first.downloadedBytes).toBe(0);
      expect(first.addon).toBe(path.join(tfjsNodeDir, "lib", "napi-v8", "tfjs_binding.node"));
      // Loaded in a process of its own: the addon reports the TensorFlow it was linked against.
      const loaded = spawnSync(
        process.execPath,
        ["-e", "process.stdout.write(require(process.argv[1]).TF_Version)", first.addon],
        { encoding: "utf8", env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" } },
      );
      expect(loaded.stderr).toBe("");
      expect(loaded.stdout).toBe("2.20.0");
      // The libraries are the cache's files (hard links), not second copies.
      const lib = path.join(tfjsNodeDir, "deps", "lib", "libtensorflow_cc.so.2");
      expect(statSync(lib).ino).toBe(
        statSync(path.join(cachedLibraries, "lib", "libtensorflow_cc.so.2")).ino,
      );
      expect(existsSync(path.join(tfjsNodeDir, "build"))).toBe(false);
      expect(existsSync(path.join(tfjsNodeDir, "deps", "include"))).toBe(false);
      const record = await readTensorflowInstallRecord(tfjsNodeDir);
      expect(record).toMatchObject({
        tensorflowVersion: "2.20.0",
        wheelSha256: TENSORFLOW_WHEEL.sha256,
        napiVersion: 8,
      });
      expect(first.diskBytes).toBeGreaterThan(700e6);

      const mtime = statSync(first.addon).mtimeMs;
      const again = await installTensorflowBackend({ tfjsNodeDir, cacheDir: defaultTfCacheDir() });
      expect(again.status).toBe("already-installed");
      expect(statSync(first.addon).mtimeMs).toBe(mtime);

      const removed = await removeTensorflowBackend({ tfjsNodeDir, keepCache: true });
      expect(removed).toEqual(
        expect.arrayContaining([first.addon, path.join(tfjsNodeDir, "deps")]),
      );
      expect(existsSync(first.addon)).toBe(false);
      expect(existsSync(path.join(tfjsNodeDir, "deps", INSTALL_RECORD_FILE))).toBe(false);
      expect(existsSync(path.join(cachedLibraries, "lib", "libtensorflow_cc.so.2"))).toBe(true);
      expect(await removeTensorflowBackend({ tfjsNodeDir, keepCache: true })).toEqual([]);
    }, 600_000);
  },
);
