/// <reference path="../../../tools/postgres-global-setup.d.mts" />
/**
 * The two backends the CLI's store tests run on: a SQLite file in a temporary folder, or a new
 * database on the run's PostgreSQL server (started by the vitest globalSetup) with a temporary
 * folder as its store root. Each store is dropped after its test.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, inject } from "vitest";
import { createDatabase, dropDatabase } from "../../../tools/postgres-databases.mjs";

export const CLI = join(import.meta.dirname, "..", "dist", "main.js");

export type BackendName = "sqlite" | "postgres";

export interface CliStore {
  backend: BackendName;
  /** What `--db` takes: a file path or a `postgres://` URL. */
  location: string;
  /** The store root: the folder of `embeddings/`. */
  root: string;
  /** `--db <location>`, and on PostgreSQL `--store-root <root>`. */
  args: string[];
}

export interface CliBackend {
  name: BackendName;
  newStore(): Promise<CliStore>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A temporary folder, removed after the test. */
export function tempDir(prefix = "ldakit-cli-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A new empty database on the run's PostgreSQL server, dropped after the test. */
export async function newDatabase(): Promise<string> {
  const url = await createDatabase(inject("ldakitPostgresUrl"));
  cleanups.push(() => dropDatabase(url));
  return url;
}

export const sqlite: CliBackend = {
  name: "sqlite",
  async newStore() {
    const root = tempDir("ldakit-cli-sqlite-");
    const location = join(root, "lda.db");
    return { backend: "sqlite", location, root, args: ["--db", location] };
  },
};

export const postgres: CliBackend = {
  name: "postgres",
  async newStore() {
    const location = await newDatabase();
    const root = tempDir("ldakit-cli-root-");
    return { backend: "postgres", location, root, args: ["--db", location, "--store-root", root] };
  },
};

export const backends: CliBackend[] = [sqlite, postgres];

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `ldakit` with `args`; the store comes from the arguments or from `env` alone
 * (LDAKIT_DB, LDAKIT_DATABASE_URL and LDAKIT_STORE_ROOT of the test's own environment are cleared).
 */
export function ldakit(args: string[], options: RunOptions = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    encoding: "utf8",
    env: cliEnv(options),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** {@link ldakit} without blocking: several runs at once (a CLI start takes seconds here). */
export function ldakitAsync(args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: cliEnv(options),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
}

function cliEnv(options: RunOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LDAKIT_DB: "",
    LDAKIT_DATABASE_URL: "",
    LDAKIT_STORE_ROOT: "",
    ...options.env,
  };
}
