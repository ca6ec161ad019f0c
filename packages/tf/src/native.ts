/**
 * Native TensorFlow for `@tensorflow/tfjs-node`, without Google's download.
 *
 * tfjs-node's own install fetches libtensorflow from Google's storage, which refuses it and which
 * networks that reach only package registries never could. The same C API ships inside the PyPI
 * wheel `tensorflow-cpu` (`tensorflow/libtensorflow_cc.so.2` exports the C and eager C symbols
 * tfjs-node calls), with its headers. So the install takes the pinned wheel from the package index,
 * checks its SHA-256, unpacks only the two libraries and the headers the addon includes into the
 * cache, and builds tfjs-node's addon with node-gyp against the running Node's own headers.
 *
 * Every step that can fail is checked before the 259 MB download where it can be (platform,
 * compiler, make, Python, Node's headers), and a failed install takes away what it placed.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants, createReadStream, existsSync, readFileSync } from "node:fs";
import {
  access,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { extractFromWheel, type WheelRule } from "./wheel.js";

/** The pinned wheel the native backend comes from. */
export const TENSORFLOW_WHEEL = {
  requirement: "tensorflow-cpu==2.20.0",
  tensorflowVersion: "2.20.0",
  /** The file pip is asked for, whatever the local Python is (the C library does not use Python). */
  filename: "tensorflow_cpu-2.20.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
  sha256: "cf756bbe2d256e942ab5d0ad2c858fb40017581494febdb4387c149b1afde780",
  bytes: 258_876_263,
  pipSelection: [
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
  ],
} as const;

/** The libraries taken from the wheel: the C API (with eager) and the framework it links to. */
const WHEEL_LIBRARIES = ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"] as const;
/**
 * Header folders (under `tensorflow/include/` in the wheel) that tfjs-node's binding reaches,
 * directly or through the C API headers' own includes. Everything else there (Eigen, LLVM, gRPC,
 * 12 000 files) is for C++ users.
 */
const WHEEL_HEADER_FOLDERS = [
  "tensorflow/c/",
  "tensorflow/core/platform/",
  "tsl/",
  "xla/tsl/c/",
  "xla/tsl/platform/",
];

/** The record ldakit writes beside the libraries it placed in tfjs-node's folder. */
export const INSTALL_RECORD_FILE = "ldakit-tensorflow.json";

export type TfInstallErrorCode =
  | "UNSUPPORTED_PLATFORM"
  | "NO_TFJS_NODE"
  | "NOT_WRITABLE"
  | "NO_NODE_HEADERS"
  | "NO_COMPILER"
  | "NO_MAKE"
  | "NO_PYTHON"
  | "NO_NODE_GYP"
  | "DOWNLOAD_FAILED"
  | "CHECKSUM_MISMATCH"
  | "EXTRACT_FAILED"
  | "BUILD_FAILED"
  | "LOAD_FAILED";

/** Why the native backend could not be installed (or removed); `code` says which step. */
export class TfInstallError extends Error {
  override readonly name = "TfInstallError";
  constructor(
    readonly code: TfInstallErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface TfInstallProgress {
  /** The step: checks, download, verify, extract, link, build, load, done. */
  readonly step: "check" | "download" | "verify" | "extract" | "link" | "build" | "load" | "done";
  readonly message: string;
  /** For steps that move bytes: how many so far, and of how many. */
  readonly done?: number;
  readonly total?: number;
}

export interface TensorflowInstallOptions {
  /** The cache folder (default `$LDAKIT_CACHE`, else `~/.cache/ldakit`); the libraries go under `tensorflow/<version>`. */
  cacheDir?: string;
  /** A wheel already on disk (it must be the pinned one: its SHA-256 is checked), instead of downloading it. */
  wheel?: string;
  /** Install again even when a working install is there: fetch (or take `wheel`), unpack and build anew. */
  force?: boolean;
  /** Node's installation prefix, holding `include/node/node_api.h` (default: the running Node's). */
  nodeDir?: string;
  /** The tfjs-node package folder to build in (default: the one `@ldakit/tf` loads). */
  tfjsNodeDir?: string;
  /** The Python that runs pip and node-gyp's gyp (default `python3`). */
  python?: string;
  onProgress?: (progress: TfInstallProgress) => void;
}

export interface TensorflowInstallResult {
  /** `installed` when this call built it; `already-installed` when a working install was there. */
  readonly status: "installed" | "already-installed";
  readonly tensorflowVersion: string;
  /** The tfjs-node folder the addon and libraries are in. */
  readonly tfjsNodeDir: string;
  /** The built addon. */
  readonly addon: string;
  /** Where the extracted libraries and headers live. */
  readonly cacheDir: string;
  /** Bytes fetched from the package index in this call (0 when the cache or `wheel` served). */
  readonly downloadedBytes: number;
  /** Bytes the install occupies on disk (the libraries once: tfjs-node's copies are hard links where possible). */
  readonly diskBytes: number;
  readonly seconds: number;
}

export interface TensorflowInstallRecord {
  readonly tensorflowVersion: string;
  readonly wheel: string;
  readonly wheelSha256: string;
  readonly cacheDir: string;
  readonly addon: string;
  readonly napiVersion: number;
  readonly installedAt: string;
  readonly nodeVersion: string;
}

const require = createRequire(import.meta.url);

/** The cache folder: `$LDAKIT_CACHE`, else `~/.cache/ldakit` (the same one models use). */
export function defaultTfCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LDAKIT_CACHE;
  if (fromEnv !== undefined && fromEnv !== "") return path.resolve(fromEnv);
  return path.join(os.homedir(), ".cache", "ldakit");
}

/** The folder of the `@tensorflow/tfjs-node` that `@ldakit/tf` loads, or undefined when it is not installed. */
export function resolveTfjsNodeDir(): string | undefined {
  try {
    return path.dirname(require.resolve("@tensorflow/tfjs-node/package.json"));
  } catch {
    return undefined;
  }
}

/**
 * The N-API version tfjs-node's loader looks for: the highest the package was built for that this
 * Node supports (node-pre-gyp's rule), which names the folder `lib/napi-v<N>`.
 */
export function tfjsNodeNapiVersion(tfjsNodeDir: string): number {
  const pkg = JSON.parse(readFileSync(path.join(tfjsNodeDir, "package.json"), "utf8")) as {
    binary?: { napi_versions?: number[] };
  };
  const supported = Number(process.versions.napi);
  const versions = (pkg.binary?.napi_versions ?? []).filter((v) => v <= supported);
  const best = Math.max(...versions);
  if (!Number.isFinite(best)) {
    throw new TfInstallError(
      "NO_TFJS_NODE",
      `${tfjsNodeDir}/package.json names no N-API version this Node (N-API ${supported}) supports`,
    );
  }
  return best;
}

function cacheFolder(cacheDir: string): string {
  return path.join(cacheDir, "tensorflow", TENSORFLOW_WHEEL.tensorflowVersion);
}

/** Read ldakit's install record from a tfjs-node folder, if there is one. */
export async function readTensorflowInstallRecord(
  tfjsNodeDir: string | undefined = resolveTfjsNodeDir(),
): Promise<TensorflowInstallRecord | undefined> {
  if (tfjsNodeDir === undefined) return undefined;
  try {
    const text = await readFile(path.join(tfjsNodeDir, "deps", INSTALL_RECORD_FILE), "utf8");
    return JSON.parse(text) as TensorflowInstallRecord;
  } catch {
    return undefined;
  }
}

/**
 * Install the native TensorFlow backend: fetch the pinned `tensorflow-cpu` wheel (or take
 * `wheel`), unpack its C library, framework library and headers into the cache, build tfjs-node's
 * addon against them and load it once in a child process to prove it works. Idempotent: a working
 * install is left as it is unless `force`.
 */
export async function installTensorflowBackend(
  options: TensorflowInstallOptions = {},
): Promise<TensorflowInstallResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => {});
  const python = options.python ?? "python3";
  const cacheDir = path.resolve(options.cacheDir ?? defaultTfCacheDir());
  const libCache = cacheFolder(cacheDir);

  progress({ step: "check", message: "checking what the build needs" });
  const plan = await preflight(options, python);
  const { tfjsNodeDir, addon } = plan;

  if (!options.force) {
    const record = await readTensorflowInstallRecord(tfjsNodeDir);
    if (
      record?.tensorflowVersion === TENSORFLOW_WHEEL.tensorflowVersion &&
      existsSync(addon) &&
      (await loadsInChild(tfjsNodeDir, addon)).ok
    ) {
      progress({ step: "done", message: "already installed and loading" });
      return {
        status: "already-installed",
        tensorflowVersion: TENSORFLOW_WHEEL.tensorflowVersion,
        tfjsNodeDir,
        addon,
        cacheDir: libCache,
        downloadedBytes: 0,
        diskBytes: await installedBytes(libCache),
        seconds: (performance.now() - started) / 1000,
      };
    }
  }

  // What this call placed, taken away again if a later step fails.
  const placed: string[] = [];
  let downloadedBytes = 0;
  try {
    // A given wheel is always checked, even when the cache could serve: a wrong file is an error.
    if (options.force || options.wheel !== undefined || !(await cacheIsComplete(libCache))) {
      let wheel = options.wheel === undefined ? undefined : path.resolve(options.wheel);
      let downloadDir: string | undefined;
      if (wheel === undefined) {
        downloadDir = path.join(
          cacheDir,
          "tensorflow",
          `.download-${randomBytes(4).toString("hex")}`,
        );
        placed.push(downloadDir);
        wheel = await downloadWheel(python, downloadDir, progress);
        downloadedBytes = (await stat(wheel)).size;
      }
      progress({ step: "verify", message: `checking the SHA-256 of ${path.basename(wheel)}` });
      await checkWheel(wheel);
      const tmp = path.join(cacheDir, "tensorflow", `.extract-${randomBytes(4).toString("hex")}`);
      placed.push(tmp);
      await extractWheel(python, wheel, tmp, progress);
      await writeFile(
        path.join(tmp, "wheel.json"),
        `${JSON.stringify({ wheel: TENSORFLOW_WHEEL.filename, sha256: TENSORFLOW_WHEEL.sha256 }, null, 2)}\n`,
      );
      await rm(libCache, { recursive: true, force: true });
      await rename(tmp, libCache);
      placed.pop();
      if (downloadDir !== undefined) {
        // The wheel is 259 MB of which ldakit keeps the two libraries; it is not kept.
        await rm(downloadDir, { recursive: true, force: true });
        placed.pop();
      }
    } else {
      progress({ step: "extract", message: `using the libraries already unpacked in ${libCache}` });
    }

    progress({ step: "link", message: `placing the libraries in ${tfjsNodeDir}/deps` });
    const deps = path.join(tfjsNodeDir, "deps");
    await rm(deps, { recursive: true, force: true });
    placed.push(deps);
    await placeLibraries(libCache, deps);

    const buildDir = path.join(tfjsNodeDir, "build");
    placed.push(buildDir, addon);
    await buildAddon(plan, libCache, progress, cacheDir);
    await rm(buildDir, { recursive: true, force: true });
    // The headers are needed only while building.
    await rm(path.join(deps, "include"), { force: true });

    progress({ step: "load", message: "loading the addon in a new process" });
    const loaded = await loadsInChild(tfjsNodeDir, addon);
    if (!loaded.ok) {
      throw new TfInstallError(
        "LOAD_FAILED",
        `the addon was built but does not load: ${loaded.reason}`,
      );
    }
    const record: TensorflowInstallRecord = {
      tensorflowVersion: TENSORFLOW_WHEEL.tensorflowVersion,
      wheel: TENSORFLOW_WHEEL.filename,
      wheelSha256: TENSORFLOW_WHEEL.sha256,
      cacheDir: libCache,
      addon,
      napiVersion: plan.napiVersion,
      installedAt: new Date().toISOString(),
      nodeVersion: process.version,
    };
    await writeFile(path.join(deps, INSTALL_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
    progress({ step: "done", message: `TensorFlow ${loaded.version} loads through tfjs-node` });
    return {
      status: "installed",
      tensorflowVersion: TENSORFLOW_WHEEL.tensorflowVersion,
      tfjsNodeDir,
      addon,
      cacheDir: libCache,
      downloadedBytes,
      diskBytes: await installedBytes(libCache),
      seconds: (performance.now() - started) / 1000,
    };
  } catch (e) {
    for (const p of placed.reverse()) await rm(p, { recursive: true, force: true });
    throw e;
  }
}

export interface TensorflowRemoveOptions {
  cacheDir?: string;
  /** Keep the unpacked libraries in the cache (a later install then needs no download). */
  keepCache?: boolean;
  tfjsNodeDir?: string;
}

/** Undo `installTensorflowBackend`: the addon, the libraries in tfjs-node's folder and (unless kept) the cache. Returns what it removed. */
export async function removeTensorflowBackend(
  options: TensorflowRemoveOptions = {},
): Promise<string[]> {
  const tfjsNodeDir = options.tfjsNodeDir ?? resolveTfjsNodeDir();
  const removed: string[] = [];
  const gone = async (p: string): Promise<void> => {
    if (existsSync(p) || (await isSymlink(p))) {
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
  };
  if (tfjsNodeDir !== undefined) {
    const lib = path.join(tfjsNodeDir, "lib");
    if (existsSync(lib)) {
      for (const d of await readdir(lib)) await gone(path.join(lib, d, "tfjs_binding.node"));
    }
    await gone(path.join(tfjsNodeDir, "deps"));
    await gone(path.join(tfjsNodeDir, "build"));
  }
  if (!options.keepCache) {
    const cacheDir = path.resolve(options.cacheDir ?? defaultTfCacheDir());
    await gone(cacheFolder(cacheDir));
  }
  return removed;
}

async function isSymlink(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isSymbolicLink();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks before anything is fetched

interface InstallPlan {
  readonly tfjsNodeDir: string;
  readonly napiVersion: number;
  readonly addon: string;
  readonly nodeDir: string;
  readonly nodeGyp: string;
  readonly python: string;
}

async function preflight(options: TensorflowInstallOptions, python: string): Promise<InstallPlan> {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new TfInstallError(
      "UNSUPPORTED_PLATFORM",
      `the native backend is built from the manylinux x86_64 wheel of ${TENSORFLOW_WHEEL.requirement}; ` +
        `this is ${process.platform}/${process.arch}, where ldakit uses the wasm backend`,
    );
  }
  const tfjsNodeDir = options.tfjsNodeDir ?? resolveTfjsNodeDir();
  if (tfjsNodeDir === undefined || !existsSync(path.join(tfjsNodeDir, "binding.gyp"))) {
    throw new TfInstallError(
      "NO_TFJS_NODE",
      "@tensorflow/tfjs-node (an optional dependency of @ldakit/tf) is not installed; install it with your package manager, then run this again",
    );
  }
  try {
    await access(tfjsNodeDir, constants.W_OK);
  } catch {
    throw new TfInstallError(
      "NOT_WRITABLE",
      `${tfjsNodeDir} is not writable by this user; the addon and libraries go there`,
    );
  }
  const nodeDir = path.resolve(options.nodeDir ?? path.join(path.dirname(process.execPath), ".."));
  for (const header of ["node_api.h", "common.gypi"]) {
    if (!existsSync(path.join(nodeDir, "include", "node", header))) {
      throw new TfInstallError(
        "NO_NODE_HEADERS",
        `Node's headers are not at ${path.join(nodeDir, "include", "node")} (no ${header}); install Node with its headers ` +
          "(the official tarball has them; distributions ship them in a -dev package) or name its prefix with --nodedir",
      );
    }
  }
  if (!commandRuns("c++", ["--version"]) && !commandRuns("g++", ["--version"])) {
    throw new TfInstallError(
      "NO_COMPILER",
      "no C++ compiler (c++ or g++) on PATH; install one (Debian: apt-get install g++)",
    );
  }
  if (!commandRuns("make", ["--version"])) {
    throw new TfInstallError(
      "NO_MAKE",
      "make is not on PATH; install it (Debian: apt-get install make)",
    );
  }
  if (!commandRuns(python, ["-m", "pip", "--version"])) {
    throw new TfInstallError(
      "NO_PYTHON",
      `${python} with pip does not run; pip fetches the wheel and node-gyp needs Python (Debian: apt-get install python3-pip)`,
    );
  }
  let nodeGyp: string;
  try {
    nodeGyp = require.resolve("node-gyp/bin/node-gyp.js");
  } catch {
    throw new TfInstallError(
      "NO_NODE_GYP",
      "node-gyp (a dependency of @ldakit/tf) is not installed",
    );
  }
  const napiVersion = tfjsNodeNapiVersion(tfjsNodeDir);
  const addon = path.join(tfjsNodeDir, "lib", `napi-v${napiVersion}`, "tfjs_binding.node");
  return { tfjsNodeDir, napiVersion, addon, nodeDir, nodeGyp, python };
}

function commandRuns(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 60_000 });
  return r.error === undefined && r.status === 0;
}

// ---------------------------------------------------------------------------------------------
// Download, check, unpack

async function downloadWheel(
  python: string,
  dest: string,
  progress: (p: TfInstallProgress) => void,
): Promise<string> {
  await mkdir(dest, { recursive: true });
  progress({
    step: "download",
    message: `pip download ${TENSORFLOW_WHEEL.requirement} (${(TENSORFLOW_WHEEL.bytes / 1e6).toFixed(0)} MB)`,
    done: 0,
    total: TENSORFLOW_WHEEL.bytes,
  });
  const args = [
    "-m",
    "pip",
    "download",
    "--no-deps",
    "--only-binary=:all:",
    ...TENSORFLOW_WHEEL.pipSelection,
    "--disable-pip-version-check",
    "--no-input",
    "--progress-bar",
    "off",
    "--dest",
    dest,
    TENSORFLOW_WHEEL.requirement,
  ];
  const target = path.join(dest, TENSORFLOW_WHEEL.filename);
  // pip's own bar is not machine-readable; the file's growth is.
  const timer = setInterval(() => {
    stat(`${target}`)
      .catch(() => undefined)
      .then((s) => {
        if (s !== undefined)
          progress({
            step: "download",
            message: "downloading",
            done: s.size,
            total: TENSORFLOW_WHEEL.bytes,
          });
      });
  }, 500);
  let result: RunResult;
  try {
    result = await runLogged(python, args, {});
  } finally {
    clearInterval(timer);
  }
  if (result.code !== 0) {
    throw new TfInstallError(
      "DOWNLOAD_FAILED",
      `pip could not download ${TENSORFLOW_WHEEL.requirement} from the package index (exit ${result.code}): ${tail(result.output, 3)}. ` +
        `Without network to PyPI, fetch ${TENSORFLOW_WHEEL.filename} elsewhere and pass it with --wheel FILE`,
    );
  }
  if (!existsSync(target)) {
    const got = (await readdir(dest)).join(", ") || "nothing";
    throw new TfInstallError(
      "DOWNLOAD_FAILED",
      `pip download ${TENSORFLOW_WHEEL.requirement} gave ${got}, not ${TENSORFLOW_WHEEL.filename}`,
    );
  }
  progress({
    step: "download",
    message: "downloaded",
    done: TENSORFLOW_WHEEL.bytes,
    total: TENSORFLOW_WHEEL.bytes,
  });
  return target;
}

async function checkWheel(wheel: string): Promise<void> {
  if (!existsSync(wheel)) {
    throw new TfInstallError("CHECKSUM_MISMATCH", `${wheel} does not exist`);
  }
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(wheel)) hash.update(chunk as Buffer);
  const got = hash.digest("hex");
  if (got !== TENSORFLOW_WHEEL.sha256) {
    throw new TfInstallError(
      "CHECKSUM_MISMATCH",
      `${wheel} has SHA-256 ${got}, not the pinned ${TENSORFLOW_WHEEL.sha256} of ${TENSORFLOW_WHEEL.filename}; it is not used`,
    );
  }
}

/** The members taken from the wheel, and where they land in the cache folder. */
const WHEEL_RULES: WheelRule[] = [
  ...WHEEL_LIBRARIES.map((lib) => ({ from: `tensorflow/${lib}`, to: `lib/${lib}` })),
  ...WHEEL_HEADER_FOLDERS.map((folder) => ({
    from: `tensorflow/include/${folder}`,
    to: `include/${folder}`,
    suffix: ".h",
  })),
];

async function extractWheel(
  python: string,
  wheel: string,
  dest: string,
  progress: (p: TfInstallProgress) => void,
): Promise<void> {
  try {
    await extractFromWheel(wheel, dest, WHEEL_RULES, {
      python,
      onBytes: (done, total) =>
        progress({ step: "extract", message: "unpacking the libraries and headers", done, total }),
    });
  } catch (e) {
    throw new TfInstallError("EXTRACT_FAILED", (e as Error).message);
  }
}

async function cacheIsComplete(libCache: string): Promise<boolean> {
  try {
    const meta = JSON.parse(await readFile(path.join(libCache, "wheel.json"), "utf8")) as {
      sha256?: string;
    };
    if (meta.sha256 !== TENSORFLOW_WHEEL.sha256) return false;
    for (const lib of WHEEL_LIBRARIES) {
      if (!existsSync(path.join(libCache, "lib", lib))) return false;
    }
    return existsSync(path.join(libCache, "include", "tensorflow", "c", "c_api.h"));
  } catch {
    return false;
  }
}

/**
 * tfjs-node's binding links `-ltensorflow -ltensorflow_framework` from `deps/lib` and finds them
 * at run time through the rpath `$ORIGIN/../../deps/lib`. The wheel's C library is named
 * `libtensorflow_cc.so.2` (its soname, which the addon records); the other names point to it.
 */
async function placeLibraries(libCache: string, deps: string): Promise<void> {
  const lib = path.join(deps, "lib");
  await mkdir(lib, { recursive: true });
  for (const name of WHEEL_LIBRARIES) {
    const from = path.join(libCache, "lib", name);
    const to = path.join(lib, name);
    try {
      // A hard link costs no disk and survives the cache being cleared.
      await link(from, to);
    } catch {
      await copyFile(from, to);
    }
  }
  await symlink("libtensorflow_cc.so.2", path.join(lib, "libtensorflow.so.2"));
  await symlink("libtensorflow.so.2", path.join(lib, "libtensorflow.so"));
  await symlink("libtensorflow_framework.so.2", path.join(lib, "libtensorflow_framework.so"));
  await symlink(path.join(libCache, "include"), path.join(deps, "include"));
}

async function buildAddon(
  plan: InstallPlan,
  libCache: string,
  progress: (p: TfInstallProgress) => void,
  cacheDir: string,
): Promise<void> {
  const jobs = String(Math.max(1, os.availableParallelism()));
  const args = [
    plan.nodeGyp,
    "rebuild",
    `--nodedir=${plan.nodeDir}`,
    `--napi_build_version=${plan.napiVersion}`,
    "--module_name=tfjs_binding",
    `--module_path=${path.dirname(plan.addon)}`,
    `--jobs=${jobs}`,
    `--python=${plan.python}`,
  ];
  progress({ step: "build", message: `node-gyp rebuild (against ${plan.nodeDir}/include/node)` });
  const log = path.join(cacheDir, "tensorflow", "build.log");
  const result = await runLogged(process.execPath, args, { cwd: plan.tfjsNodeDir, log });
  if (result.code !== 0 || !existsSync(plan.addon)) {
    throw new TfInstallError(
      "BUILD_FAILED",
      `node-gyp could not build tfjs-node's addon against ${libCache} (exit ${result.code}): ${tail(result.output, 6)}\n` +
        `the whole log: ${log}`,
    );
  }
}

/** Load the addon in a fresh process (so a crash cannot take this one down) and read TensorFlow's version. */
async function loadsInChild(
  tfjsNodeDir: string,
  addon: string,
): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  const script = "const b = require(process.argv[1]); process.stdout.write(String(b.TF_Version));";
  const result = await runLogged(process.execPath, ["-e", script, addon], {
    cwd: tfjsNodeDir,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" },
  });
  if (result.code !== 0) return { ok: false, reason: tail(result.output, 3) };
  const version = result.stdout.trim();
  if (version !== TENSORFLOW_WHEEL.tensorflowVersion) {
    return {
      ok: false,
      reason: `it reports TensorFlow ${version}, not ${TENSORFLOW_WHEEL.tensorflowVersion}`,
    };
  }
  return { ok: true, version };
}

async function installedBytes(libCache: string): Promise<number> {
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile()) total += (await stat(p)).size;
    }
  };
  if (existsSync(libCache)) await walk(libCache);
  return total;
}

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  /** stdout and stderr interleaved, for error messages. */
  readonly output: string;
}

function runLogged(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; log?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      const s = d.toString();
      stdout += s;
      output += s;
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.on("error", (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on("close", async (code) => {
      if (opts.log !== undefined) {
        await mkdir(path.dirname(opts.log), { recursive: true });
        await writeFile(opts.log, output);
      }
      if (stdout.length > 1 << 20) stdout = stdout.slice(-(1 << 20));
      resolve({ code: code ?? 1, stdout, output });
    });
  });
}

function tail(text: string, lines: number): string {
  return text.trim().split("\n").slice(-lines).join(" | ");
}
