/// <reference path="../../../tools/postgres-global-setup.d.mts" />
/**
 * The two backends the store's suites run on, from one set of test bodies:
 * `describe.each(backends)("$name", (backend) => …)`. Each test store is new and empty: a SQLite
 * file in a temporary folder, or a new database on the run's PostgreSQL server (started by the
 * vitest globalSetup) with a temporary folder as its store root.
 */
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import pg from "pg";
import { afterEach, inject } from "vitest";
import { createDatabase, dropDatabase } from "../../../tools/postgres-databases.mjs";
import { LDAProjectionDB, type OpenOptions } from "../src/index.js";
import { tempDir } from "./helpers.js";

export type BackendName = "sqlite" | "postgres";

export interface TestStore {
  backend: BackendName;
  /** What `LDAProjectionDB.open` and `ldakit --db` take: a file path or a `postgres://` URL. */
  location: string;
  /** The store root: the folder of `embeddings/`. */
  root: string;
  /** Opens the store (with its root on PostgreSQL). */
  open(options?: OpenOptions): Promise<LDAProjectionDB>;
  /**
   * Runs SQL on a connection of the database's own client (better-sqlite3, or `pg`), not the
   * store's: the peer check. Placeholders are `?` on both; returns the rows.
   */
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** The store's open options as `ldakit` flags: `--db <location>` (and `--store-root`). */
  cliArgs(): string[];
}

export interface TestBackend {
  name: BackendName;
  newStore(): Promise<TestStore>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sqlite: TestBackend = {
  name: "sqlite",
  async newStore() {
    const root = tempDir();
    const location = join(root, "lda.db");
    return {
      backend: "sqlite",
      location,
      root,
      open: (options) => LDAProjectionDB.open(location, options),
      async query<R>(text: string, params: unknown[] = []) {
        const db = new Sqlite(location);
        try {
          const statement = db.prepare(text);
          if (statement.reader) return statement.all(...params) as R[];
          statement.run(...params);
          return [];
        } finally {
          db.close();
        }
      },
      cliArgs: () => ["--db", location],
    };
  },
};

/** `?` placeholders as PostgreSQL's `$1, $2, …`. */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

const postgres: TestBackend = {
  name: "postgres",
  async newStore() {
    const url = await createDatabase(inject("ldakitPostgresUrl"));
    const root = tempDir();
    cleanups.push(() => dropDatabase(url));
    return {
      backend: "postgres",
      location: url,
      root,
      open: (options) => LDAProjectionDB.open(url, { storeRoot: root, ...options }),
      async query<R>(text: string, params: unknown[] = []) {
        const client = new pg.Client({
          connectionString: url,
          // bigint (count(*)) as a number, as the store reads it
          types: {
            getTypeParser: ((oid: number, format?: "text" | "binary") =>
              oid === 20
                ? Number
                : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
          },
        });
        client.on("error", () => {});
        await client.connect();
        try {
          return (await client.query(numbered(text), params)).rows as R[];
        } finally {
          await client.end();
        }
      },
      cliArgs: () => ["--db", url, "--store-root", root],
    };
  },
};

export const backends: TestBackend[] = [sqlite, postgres];
