import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { MIGRATION_NAMES, migrateLdakitDatabase } from "@ldakit/schema";
import Sqlite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { describe, expect, it } from "vitest";
import {
  isLockedError,
  LDAProjectionDB,
  type OpenMode,
  StoreError,
  type StoreErrorCode,
} from "../src/index.js";
import { backends, type TestStore } from "./backends.js";
import { EXAMPLE_RAW, expectStoreError, formA, sqlite3, tempDir } from "./helpers.js";

const MODES: OpenMode[] = ["create", "write", "read"];

const OPEN_WORKER = join(import.meta.dirname, "workers", "open.mjs");

/** A store made the ordinary way: the example imported with the hash embedder. */
async function exampleStore(): Promise<string> {
  const path = join(tempDir(), "lda.db");
  const db = await LDAProjectionDB.open(path);
  await db.scan(EXAMPLE_RAW);
  await db.processPending({ embedder: createHashEmbedder(32), writerThreads: 0 });
  await db.close();
  return path;
}

/** A database of the schema `target` (an older ldakit's store), written by the migrations alone. */
async function olderStore(target: (typeof MIGRATION_NAMES)[number]): Promise<string> {
  const path = join(tempDir(), "lda.db");
  const kysely = new Kysely<unknown>({
    dialect: new SqliteDialect({ database: new Sqlite(path) }),
  });
  await migrateLdakitDatabase(kysely, target);
  await kysely.destroy();
  return path;
}

/** The folder's entries: a refused open must leave no `-wal`, `-shm` or `-journal` behind. */
function entries(path: string): string[] {
  return readdirSync(join(path, "..")).sort();
}

async function refusedInEveryMode(
  path: string,
  expected: Partial<Record<OpenMode, [StoreErrorCode, RegExp]>>,
): Promise<void> {
  for (const mode of MODES) {
    const want = expected[mode];
    if (!want) continue;
    const before = readFileSync(path);
    const files = entries(path);
    await expectStoreError(LDAProjectionDB.open(path, { mode }), want[0], want[1]);
    expect(readFileSync(path).equals(before), `${mode} left ${path} byte-for-byte as it was`).toBe(
      true,
    );
    expect(entries(path), `${mode} left no file beside ${path}`).toEqual(files);
  }
}

describe("opening a path that holds no store", () => {
  it("read and write: STORE_NOT_FOUND, creating neither the folder nor the database", async () => {
    const root = tempDir();
    const path = join(root, "typo", "sub", "lda.db");
    for (const mode of ["read", "write"] as const) {
      await expectStoreError(
        LDAProjectionDB.open(path, { mode }),
        "STORE_NOT_FOUND",
        /^no store at .*typo\/sub\/lda\.db: the file does not exist/,
      );
    }
    expect(readdirSync(root)).toEqual([]);
  });

  it("create (the default): makes the folders and the store", async () => {
    const path = join(tempDir(), "new", "lda.db");
    const db = await LDAProjectionDB.open(path);
    expect(db.mode).toBe("create");
    expect(db.migratedOnOpen).toEqual([...MIGRATION_NAMES]);
    await db.close();
    const again = await LDAProjectionDB.open(path, { mode: "write" });
    expect(again.migratedOnOpen).toEqual([]);
    await again.close();
  });

  it("a folder is NOT_A_STORE in every mode", async () => {
    const path = join(tempDir(), "lda.db");
    mkdirSync(path);
    for (const mode of MODES) {
      await expectStoreError(
        LDAProjectionDB.open(path, { mode }),
        "NOT_A_STORE",
        /lda\.db is a folder, not an ldakit store's database file/,
      );
    }
  });

  it("an empty database is a store only to create", async () => {
    const path = join(tempDir(), "lda.db");
    writeFileSync(path, "");
    await refusedInEveryMode(path, {
      write: ["NOT_A_STORE", /is an empty SQLite database, not an ldakit store yet/],
      read: ["NOT_A_STORE", /is an empty SQLite database, not an ldakit store yet/],
    });
    const db = await LDAProjectionDB.open(path, { mode: "create" });
    expect((await db.stats()).clusters).toBe(0);
    await db.close();
  });
});

describe("a file that is not an ldakit store", () => {
  it("someone else's SQLite database is refused in every mode and left byte-for-byte as it was", async () => {
    const path = join(tempDir(), "other.db");
    // Written by the sqlite3 shell: a database ldakit has never seen, in WAL mode as many are.
    sqlite3(
      path,
      "PRAGMA journal_mode = WAL; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');",
    );
    const refusal: [StoreErrorCode, RegExp] = [
      "NOT_A_STORE",
      /other\.db is a SQLite database but not an ldakit store \(its tables: notes\); ldakit leaves it untouched/,
    ];
    await refusedInEveryMode(path, { create: refusal, write: refusal, read: refusal });
    expect(sqlite3(path, "SELECT name FROM sqlite_master ORDER BY name")).toBe("notes");
  });

  it("a file that is not SQLite is refused in every mode and left as it was", async () => {
    const path = join(tempDir(), "lda.db");
    writeFileSync(
      path,
      "these are notes, not a database: long enough to fill a SQLite header.....",
    );
    const refusal: [StoreErrorCode, RegExp] = [
      "NOT_A_STORE",
      /lda\.db is not a SQLite database, so no ldakit store/,
    ];
    await refusedInEveryMode(path, { create: refusal, write: refusal, read: refusal });
  });
});

describe("schema versions", () => {
  it("a store from a newer ldakit is refused in every mode, unchanged", async () => {
    const path = await exampleStore();
    sqlite3(path, "INSERT INTO kysely_migration VALUES ('999_future', '2031-01-01T00:00:00.000Z')");
    const refusal: [StoreErrorCode, RegExp] = [
      "SCHEMA_TOO_NEW",
      /was written by a newer ldakit \(schema 999_future; migration 999_future unknown to this one\); upgrade ldakit/,
    ];
    await refusedInEveryMode(path, { create: refusal, write: refusal, read: refusal });
  });

  it("an older store: a reader asks for ldakit migrate and leaves it; a writer migrates it", async () => {
    const path = await olderStore("003_upstream");
    await refusedInEveryMode(path, {
      read: [
        "SCHEMA_TOO_OLD",
        /has schema 003_upstream, older than this ldakit's .*; a command that only reads does not migrate it — run ldakit migrate on it first/,
      ],
    });
    const db = await LDAProjectionDB.open(path, { mode: "write" });
    expect(db.migratedOnOpen).toEqual(MIGRATION_NAMES.slice(3));
    await db.close();
    const reader = await LDAProjectionDB.open(path, { mode: "read" });
    expect((await reader.stats()).clusters).toBe(0);
    await reader.close();
  });

  it("the original Python tool's database: a reader names it, create adopts it", async () => {
    const path = join(tempDir(), "lda.db");
    sqlite3(
      path,
      `CREATE TABLE models (model_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dimensions INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
       CREATE TABLE clusters (cluster_id INTEGER PRIMARY KEY, answer_text TEXT NOT NULL, answer_record_id TEXT, model_id INTEGER NOT NULL REFERENCES models(model_id));
       CREATE TABLE questions (question_id INTEGER PRIMARY KEY, cluster_id INTEGER NOT NULL REFERENCES clusters(cluster_id), question_text TEXT NOT NULL);
       CREATE TABLE embeddings (embedding_id INTEGER PRIMARY KEY, entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL, model_id INTEGER NOT NULL, vector_path TEXT NOT NULL);
       INSERT INTO models (name, dimensions) VALUES ('seed-model', 3);
       INSERT INTO clusters (answer_text, model_id) VALUES ('an answer', 1);`,
    );
    await refusedInEveryMode(path, {
      read: ["SCHEMA_TOO_OLD", /has the original Python tool's schema, older than this ldakit's/],
    });
    const db = await LDAProjectionDB.open(path, { mode: "create" });
    expect(db.migratedOnOpen).toEqual([...MIGRATION_NAMES]);
    expect((await db.listModels()).map((m) => m.name)).toEqual(["seed-model"]);
    await db.close();
  });
});

describe("mode read", () => {
  it("reads a store without writing a byte or a file, and refuses writes", async () => {
    const path = await exampleStore();
    const before = readFileSync(path);
    const files = entries(path);
    const db = await LDAProjectionDB.open(path, { mode: "read" });
    expect(db.sqlite.readonly).toBe(true);
    expect((await db.stats()).clusters).toBe(28);
    expect((await db.verify()).problems).toEqual([]);
    const input = tempDir();
    writeFileSync(join(input, "new.json"), formA(1, 1));
    await expect(db.scan(input)).rejects.toMatchObject({ code: "SQLITE_READONLY" });
    await db.close();
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(entries(path)).toEqual(files);
  });

  it("a writer leaves the database out of WAL mode on close, so a reader needs no -wal/-shm files", async () => {
    const path = await exampleStore();
    const db = await LDAProjectionDB.open(path, { mode: "write" });
    expect(db.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    // A second writer is open: the first to close leaves WAL mode alone; the last switches it.
    const second = await LDAProjectionDB.open(path, { mode: "write" });
    await db.close();
    expect(sqlite3(path, "PRAGMA journal_mode")).toBe("wal");
    await second.close();
    expect(sqlite3(path, "PRAGMA journal_mode")).toBe("delete");
    expect(entries(path)).toEqual(["embeddings", "lda.db"]);
  });
});

describe("write mode", () => {
  it("READ_ONLY when the database file is not writable by this user; a reader still opens it", async (ctx) => {
    // Root writes any file, so as root the store is opened by user nobody, who owns nothing here.
    const root = process.getuid?.() === 0;
    if (root && spawnSync("runuser", ["-u", "nobody", "--", "true"]).status !== 0) {
      ctx.skip("running as root without runuser/nobody: no user who cannot write the file");
    }
    const asOther = root ? ["runuser", "-u", "nobody", "--", process.execPath] : [process.execPath];
    const base = tempDir();
    chmodSync(base, 0o755);
    const path = join(base, "lda.db");
    await (await LDAProjectionDB.open(path)).close();
    chmodSync(path, 0o444);
    const open = (mode: string) => {
      const run = spawnSync(asOther[0] as string, [...asOther.slice(1), OPEN_WORKER, path, mode], {
        encoding: "utf8",
      });
      expect(run.stderr).toBe("");
      return JSON.parse(run.stdout);
    };
    expect(open("write")).toEqual({
      code: "READ_ONLY",
      error: expect.stringMatching(
        /is not writable by this user; a command that only reads it can still open it/,
      ),
    });
    expect(open("read")).toEqual({ opened: true });
  });
});

describe("the busy timeout", () => {
  it("is checked", async () => {
    for (const busyTimeoutMs of [-1, 1.5, Number.NaN, 2 ** 31]) {
      await expectStoreError(
        LDAProjectionDB.open(join(tempDir(), "lda.db"), { busyTimeoutMs }),
        "BAD_ARGUMENT",
        /^busyTimeoutMs must be an integer from 0 to 2147483647/,
      );
    }
  });

  it("LOCKED when another connection holds the write lock past it, at open and after", async () => {
    const path = await exampleStore();
    const holder = new Sqlite(path);
    try {
      // The store is in rollback mode after its writer closed: opening to write must switch it
      // to WAL, which waits for the lock.
      holder.exec("BEGIN IMMEDIATE");
      const started = Date.now();
      const error = await expectStoreError(
        LDAProjectionDB.open(path, { mode: "write", busyTimeoutMs: 150 }),
        "LOCKED",
        /^the store .*lda\.db is locked: another process .* held its write lock longer than the busy timeout of 150 ms/,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(isLockedError(error)).toBe(true);
      // Readers are not blocked by a writer.
      const reader = await LDAProjectionDB.open(path, { mode: "read", busyTimeoutMs: 150 });
      expect((await reader.stats()).clusters).toBe(28);
      await reader.close();
      holder.exec("ROLLBACK");

      // In WAL mode the open succeeds, and the write waits for the lock instead.
      const db = await LDAProjectionDB.open(path, { mode: "write", busyTimeoutMs: 100 });
      holder.exec("BEGIN IMMEDIATE");
      const input = tempDir();
      writeFileSync(join(input, "new.json"), formA(1, 1));
      const busy = await db.scan(input).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(busy).toMatchObject({ code: "SQLITE_BUSY" });
      expect(isLockedError(busy)).toBe(true);
      expect(isLockedError(new StoreError("CLOSED", "x"))).toBe(false);
      holder.exec("ROLLBACK");
      await db.close();
    } finally {
      holder.close();
    }
    expect(existsSync(path)).toBe(true);
  });
});

describe("opening a PostgreSQL database", () => {
  const postgres = backends.find((b) => b.name === "postgres") as (typeof backends)[number];

  /** The database's tables, as a peer client lists them. */
  async function tablesOf(store: TestStore): Promise<string[]> {
    return (
      await store.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
      )
    ).map((r) => r.name);
  }

  it("a database with another program's table is NOT_A_STORE in every mode, and left as it was", async () => {
    const store = await postgres.newStore();
    await store.query("CREATE TABLE invoices (id integer PRIMARY KEY, total numeric)");
    await store.query("INSERT INTO invoices VALUES (1, 9.5)");
    for (const mode of MODES) {
      await expectStoreError(
        store.open({ mode }),
        "NOT_A_STORE",
        /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/ldakit_\w+ is a PostgreSQL database but not an ldakit store \(its tables: invoices\); ldakit leaves it untouched$/,
      );
    }
    expect(await tablesOf(store)).toEqual(["invoices"]);
    expect(await store.query("SELECT id FROM invoices")).toEqual([{ id: 1 }]);
  });

  it("the store root: required on first use (nothing created without it), refused when different or missing", async () => {
    const store = await postgres.newStore();
    for (const mode of ["create", "read"] as const) {
      await expectStoreError(
        LDAProjectionDB.open(store.location, { mode }),
        mode === "read" ? "NOT_A_STORE" : "STORE_ROOT_REQUIRED",
        mode === "read"
          ? /empty/
          : /has no store root yet: name the folder that will hold its vector files, shared by every worker \(--store-root DIR, or storeRoot\)/,
      );
    }
    expect(await tablesOf(store)).toEqual([]);

    const db = await store.open();
    expect(db.root).toBe(store.root);
    await db.close();
    // Recorded now: a worker that names no root uses it; one that names another is refused.
    const again = await LDAProjectionDB.open(store.location, { mode: "write" });
    expect(again.root).toBe(store.root);
    await again.close();
    const elsewhere = tempDir();
    for (const mode of MODES) {
      await expectStoreError(
        LDAProjectionDB.open(store.location, { mode, storeRoot: elsewhere }),
        "STORE_ROOT_MISMATCH",
        new RegExp(
          `keeps its files under ${store.root}, not ${elsewhere}: every worker must use the same store root`,
        ),
      );
    }
    rmSync(store.root, { recursive: true });
    for (const mode of MODES) {
      await expectStoreError(
        LDAProjectionDB.open(store.location, { mode }),
        "STORE_ROOT_MISSING",
        new RegExp(
          `^the store root ${store.root} of the store postgres://\\S+ is not a folder on this machine: mount the shared storage there first`,
        ),
      );
    }
    expect(existsSync(store.root), "a missing root is not made anew").toBe(false);
  });

  it("CONNECTION_FAILED when nothing listens on the port, with the password hidden", async () => {
    const port = await closedPort();
    const url = `postgres://ldakit:s3cret-pw@127.0.0.1:${port}/store`;
    for (const mode of MODES) {
      const error = await expectStoreError(
        LDAProjectionDB.open(url, { mode, storeRoot: tempDir() }),
        "CONNECTION_FAILED",
        new RegExp(
          `^cannot connect to the store postgres://ldakit:\\*\\*\\*@127\\.0\\.0\\.1:${port}/store: nothing accepts connections there \\(is the server running\\?\\)`,
        ),
      );
      expect(error.message).not.toContain("s3cret-pw");
    }
  });

  it("a store from a newer ldakit is SCHEMA_TOO_NEW in every mode, unchanged", async () => {
    const store = await postgres.newStore();
    const db = await store.open();
    await db.close();
    await store.query(
      "INSERT INTO kysely_migration VALUES ('999_future', '2031-01-01T00:00:00.000Z')",
    );
    const before = await tablesOf(store);
    for (const mode of MODES) {
      await expectStoreError(
        store.open({ mode }),
        "SCHEMA_TOO_NEW",
        /was written by a newer ldakit \(schema 999_future; migration 999_future unknown to this one\); upgrade ldakit/,
      );
    }
    expect(await tablesOf(store)).toEqual(before);
    expect(
      (await store.query<{ name: string }>("SELECT name FROM kysely_migration ORDER BY name")).at(
        -1,
      ),
    ).toEqual({ name: "999_future" });
  });
});

/** A loopback port nothing listens on: one the system handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
