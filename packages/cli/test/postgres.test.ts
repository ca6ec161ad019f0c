// The CLI on PostgreSQL: every command that opens a store gives on a real PostgreSQL server (the
// run's, from the vitest globalSetup) what it gives on SQLite for the same data — ids, scores,
// counts, errors — and the PostgreSQL-only parts: the URL from LDAKIT_DATABASE_URL, the store
// root recorded on first use and refused when different, and a URL's password never printed.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createReadOnlyRole } from "../../../tools/postgres-databases.mjs";
import {
  type CliStore,
  ldakit,
  ldakitAsync,
  newDatabase,
  postgres,
  type Run,
  sqlite,
  tempDir,
} from "./backends.js";

const EXAMPLES = join(import.meta.dirname, "../../../examples/bike-care");
const QUERIES = join(EXAMPLES, "eval-queries.json");

/** Runs `ldakit` on the store and expects `code`, showing stderr when it differs. */
function on(store: CliStore, args: string[], code = 0): Run {
  const r = ldakit([...store.args, ...args]);
  expect(r.code, `ldakit ${args.join(" ")} on ${store.backend}: ${r.stderr}`).toBe(code);
  return r;
}

function json(store: CliStore, args: string[], code = 0): Record<string, unknown> {
  return JSON.parse(on(store, [...args, "--json"], code).stdout);
}

/** {@link on}, not blocking: the same command on several stores at once. */
async function onAsync(store: CliStore, args: string[], code = 0): Promise<Run> {
  const r = await ldakitAsync([...store.args, ...args]);
  expect(r.code, `ldakit ${args.join(" ")} on ${store.backend}: ${r.stderr}`).toBe(code);
  return r;
}

async function jsonAsync(
  store: CliStore,
  args: string[],
  code = 0,
): Promise<Record<string, unknown>> {
  return JSON.parse((await onAsync(store, [...args, "--json"], code)).stdout);
}

/** A value with every `*_at` timestamp (and train's wall time) taken out: what differs per run. */
function untimed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untimed);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !key.endsWith("_at") && key !== "seconds")
      .map(([key, v]) => [key, untimed(v)]),
  );
}

describe("every command on PostgreSQL gives what it gives on SQLite", () => {
  it("migrate, train, search, eval, stats, verify, list and retry: same ids, scores and counts", {
    timeout: 600_000,
  }, async () => {
    const stores = [await sqlite.newStore(), await postgres.newStore()];
    const broken = tempDir("ldakit-cli-broken-");
    writeFileSync(join(broken, "broken.json"), '{"clusters": [\n  {"answer": "a",\n]}');

    // Each step on both stores; the outputs, compared, must be equal.
    const both = async (step: (store: CliStore) => Promise<unknown>) => {
      const [a, b] = await Promise.all(stores.map(step));
      expect(b).toEqual(a);
      return a;
    };
    await both((s) => jsonAsync(s, ["migrate"]));
    const built = await both(
      async (s) =>
        await jsonAsync(s, [
          "migrate",
          "--scan",
          "--input",
          join(EXAMPLES, "raw"),
          "--process-pending",
        ]),
    );
    expect(built).toMatchObject({
      scan: { new: [{ batch_id: 1 }, { batch_id: 2 }, { batch_id: 3 }] },
    });
    const trained = await both(async (s) =>
      untimed(
        await jsonAsync(s, [
          "train",
          "--adapter",
          "linear",
          "--temperature",
          "0.1",
          "--blend",
          "0.25",
          "--name",
          "first",
        ]),
      ),
    );
    expect(trained).toMatchObject({ mh_projection_id: 1, num_heads: 28, adapter: "linear" });
    await both(async (s) =>
      untimed(
        await jsonAsync(s, ["train", "--adapter", "none", "--temperature", "0.1", "--blend", "1"]),
      ),
    );

    const question = "which lock should I buy";
    const search = (await both((s) => jsonAsync(s, ["search", question, "--top-k", "10"]))) as {
      results: Array<{ cluster_id: number; score: number }>;
    };
    expect(search.results).toHaveLength(10);
    await both((s) => jsonAsync(s, ["search", question, "--mh-id", "1", "--top-k", "10"]));
    await both((s) => jsonAsync(s, ["search", question, "--direct"]));
    await both(async (s) => (await onAsync(s, ["search", question, "--mh-id", "1"])).stdout);
    await both(async (s) =>
      (await onAsync(s, ["search", question, "--mh-id", "9"], 1)).stderr.replace(s.location, "DB"),
    );
    const evaluation = await both((s) =>
      jsonAsync(s, ["eval", "--queries", QUERIES, "--mh-id", "1"]),
    );
    expect(evaluation).toMatchObject({ queries: 56, mh_projection_id: 1 });
    await both(async (s) => (await onAsync(s, ["eval", "--queries", QUERIES])).stdout);
    const stats = await both(async (s) => untimed(await jsonAsync(s, ["stats"])));
    expect(stats).toMatchObject({ clusters: 28, questions: 224, embeddings: 252, projections: 2 });
    for (const s of stores) {
      expect(on(s, ["stats"]).stdout).toMatch(/^28 clusters, 224 questions, 252 vectors/m);
    }
    await both((s) => jsonAsync(s, ["verify"]));
    await both((s) => jsonAsync(s, ["verify", "--repair"]));
    await both((s) => jsonAsync(s, ["verify", "--mh-id", "1"]));

    // A broken file: its batch fails on both, is listed alike, and fails again when retried.
    await both((s) =>
      jsonAsync(s, ["migrate", "--scan", "--input", broken, "--process-pending"], 1),
    );
    const failed = (await both(async (s) =>
      untimed(await jsonAsync(s, ["migrate", "--list-batches", "--status", "failed"])),
    )) as { batches: Array<{ batch_id: number; error_message: string }> };
    expect(failed.batches).toMatchObject([{ batch_id: 4 }]);
    expect(failed.batches[0]?.error_message).toMatch(/JSON parse error at line 3/);
    await both((s) => jsonAsync(s, ["migrate", "--retry-failed"], 1));
    await both(async (s) => untimed(await jsonAsync(s, ["migrate", "--list-batches"])));
    await both(
      async (s) => (await onAsync(s, ["migrate", "--list-batches", "--status", "failed"])).stdout,
    );
    await both((s) => jsonAsync(s, ["models", "list"]));
  });
});

describe("choosing the store", () => {
  it("reads the URL from LDAKIT_DATABASE_URL (after --db, before LDAKIT_DB) and the root from LDAKIT_STORE_ROOT", async () => {
    const url = await newDatabase();
    const root = tempDir("ldakit-cli-root-");
    const env = { LDAKIT_DATABASE_URL: url, LDAKIT_STORE_ROOT: root };
    const created = ldakit(["migrate", "--scan", "--input", join(EXAMPLES, "raw"), "--json"], {
      env,
    });
    expect(created.code, created.stderr).toBe(0);
    // LDAKIT_DB names a SQLite file that does not exist: the URL before it is the one used.
    const elsewhere = join(tempDir(), "absent.db");
    const listed = ldakit(["migrate", "--list-batches", "--json"], {
      env: { ...env, LDAKIT_DB: elsewhere },
    });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).batches).toHaveLength(3);
    // The recorded root is used when none is given.
    const processed = ldakit(["migrate", "--process-pending"], {
      env: { LDAKIT_DATABASE_URL: url },
    });
    expect(processed.code, processed.stderr).toBe(0);
    expect(processed.stdout).toMatch(/processed 3 batch\(es\): 3 completed/);
    // --db before LDAKIT_DATABASE_URL: here a SQLite store of its own.
    const local = await sqlite.newStore();
    const mine = ldakit(["--db", local.location, "migrate", "--json"], { env });
    expect(mine.code, mine.stderr).toBe(0);
    const counted = ldakit(["stats", "--json"], { env: { LDAKIT_DATABASE_URL: url } });
    expect(JSON.parse(counted.stdout)).toMatchObject({ clusters: 28, embeddings: 252 });
    expect(ldakit(["--db", local.location, "stats", "--json"]).stdout).toMatch(/"clusters": 0/);
  });

  it("names the flag to give when the store root is missing, different or not there", async () => {
    const url = await newDatabase();
    const root = tempDir("ldakit-cli-root-");
    const required = ldakit(["--db", url, "migrate"]);
    expect(required.code).toBe(1);
    expect(required.stderr).toMatch(
      /^ldakit: the store postgres:\/\/\S+ has no store root yet: name the folder that will hold its vector files .* with --store-root \(or LDAKIT_STORE_ROOT\)\n$/,
    );
    expect(ldakit(["--db", url, "--store-root", root, "migrate"]).code).toBe(0);

    const other = tempDir("ldakit-cli-other-");
    const mismatch = ldakit(["--db", url, "--store-root", other, "stats"]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(`keeps its files under ${root}, not ${other}`);
    expect(mismatch.stderr).toMatch(
      /give that folder as --store-root \(or LDAKIT_STORE_ROOT\), or leave it out/,
    );
    // The same from the environment, and for a writing command.
    const fromEnv = ldakit(["--db", url, "train"], { env: { LDAKIT_STORE_ROOT: other } });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain(`not ${other}`);

    renameSync(root, `${root}.unmounted`);
    const missing = ldakit(["--db", url, "stats"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      new RegExp(`the store root ${root} of the store .* is not a folder on this machine: mount`),
    );
    renameSync(`${root}.unmounted`, root);
    expect(ldakit(["--db", url, "stats"]).code).toBe(0);

    // A SQLite store's root is its database's folder: another one is refused, saying so.
    const local = await sqlite.newStore();
    const sqliteMismatch = ldakit(["--db", local.location, "--store-root", other, "migrate"]);
    expect(sqliteMismatch.code).toBe(1);
    expect(sqliteMismatch.stderr).toMatch(
      /a SQLite store keeps its files beside its database; leave out --store-root\n$/,
    );
    // LDAKIT_STORE_ROOT goes with a PostgreSQL URL: a SQLite store named by --db ignores it.
    const beside = ldakit(["--db", local.location, "migrate"], {
      env: { LDAKIT_STORE_ROOT: other },
    });
    expect(beside.code, beside.stderr).toBe(0);
  });

  it("says an empty database is no store yet, and how to make it one", async () => {
    const url = await newDatabase();
    for (const args of [["stats"], ["search", "x"], ["migrate", "--process-pending"]]) {
      const r = ldakit(["--db", url, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^ldakit: no store in postgres:\/\/\S+ yet: the database is empty; create the store with `ldakit --db \S+ --store-root DIR migrate --scan --input DIR`/,
      );
    }
  });

  it("fails clearly when the server cannot be reached, naming the flag", () => {
    const r = ldakit(["--db", "postgres://ldakit@127.0.0.1:1/none", "stats"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^ldakit: cannot connect to the store postgres:\/\/ldakit@127\.0\.0\.1:1\/none: nothing accepts connections there .*; check the URL given by --db, LDAKIT_DATABASE_URL or LDAKIT_DB/,
    );
  });
});

describe("a URL's password", () => {
  it("is never printed, whether a command succeeds or fails", async () => {
    const secret = "s3cret-word";
    const url = await newDatabase();
    const withPassword = url.replace("://postgres@", `://postgres:${secret}@`);
    expect(withPassword).not.toBe(url);
    const inQuery = `${url}?password=${secret}`;
    const root = tempDir("ldakit-cli-root-");
    const runs: Run[] = [];
    const run = (args: string[], code: number, env: Record<string, string> = {}) => {
      const r = ldakit(args, { env });
      expect(r.code, r.stderr).toBe(code);
      runs.push(r);
      return r;
    };
    // The test server lets the user in with any password: the URLs work as given.
    run(["--db", withPassword, "stats"], 1);
    run(["--db", withPassword, "--store-root", root, "migrate"], 0);
    run(["--db", inQuery, "migrate", "--scan", "--input", join(EXAMPLES, "raw")], 0);
    run(["migrate", "--process-pending"], 0, { LDAKIT_DATABASE_URL: withPassword });
    run(["--db", withPassword, "stats"], 0);
    run(["--db", inQuery, "stats", "--json"], 0);
    run(["--db", withPassword, "search", "x"], 1);
    run(["--db", withPassword, "verify"], 0);
    run(["--db", withPassword, "--store-root", tempDir(), "stats"], 1);
    run(["--db", withPassword.replace(/:\d+\//, ":1/"), "stats"], 1);
    run(["--db", inQuery.replace(/:\d+\//, ":1/"), "stats"], 1);
    const shown = runs.map((r) => r.stdout + r.stderr).join("\n");
    expect(shown).toContain("postgres:***@");
    expect(shown).toContain("?password=***");
    expect(shown).not.toContain(secret);
  });

  it("of a role that may only read: search, eval, stats and verify work, a writer is refused", async () => {
    const store = await postgres.newStore();
    on(store, ["migrate", "--scan", "--input", join(EXAMPLES, "raw"), "--process-pending"]);
    on(store, ["train", "--adapter", "none", "--temperature", "0.1", "--blend", "1"]);
    const reader = await createReadOnlyRole(store.location);
    const password = new URL(reader).password;
    expect(password.length).toBeGreaterThan(8);
    const asReader = (args: string[]) => ldakit(["--db", reader, ...args]);
    const runs = [
      asReader(["search", "which lock should I buy", "--json"]),
      asReader(["eval", "--queries", QUERIES, "--json"]),
      asReader(["stats"]),
      asReader(["verify"]),
    ];
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(runs[0]?.stdout ?? "").results).toEqual(
      json(store, ["search", "which lock should I buy"]).results,
    );
    // Refused as it opens, before any work: the role's table rights are checked then.
    const writer = asReader(["train", "--adapter", "none"]);
    expect(writer.code).toBe(1);
    expect(writer.stderr).toMatch(
      /^ldakit: the store postgres:\/\/\S+ is not writable by this role: it may not insert, update and delete in [\w, ]+; a command that only reads it can still open it/m,
    );
    expect(writer.stderr.trim().split("\n")).toHaveLength(1);
    const shown = [...runs, writer].map((r) => r.stdout + r.stderr).join("\n");
    expect(shown).not.toContain(password);
  });
});
