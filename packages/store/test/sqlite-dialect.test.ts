// The store's SQLite dialect for the async connection layer (issue 14, step 1): Kysely's own API
// with the guarantees the synchronous `SyncSql` gives today.
import { join } from "node:path";
import { type Database, migrateLdakitDatabase } from "@ldakit/schema";
import Sqlite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { StoreSqliteDialect } from "../src/db/sqlite-dialect.js";
import { tempDir } from "./helpers.js";

const open: Array<{ close(): unknown }> = [];
afterEach(() => {
  for (const c of open.splice(0).reverse()) c.close();
});

async function store(dialect: "store" | "stock" = "store") {
  const path = join(tempDir(), "lda.db");
  const sqlite = new Sqlite(path);
  sqlite.pragma("journal_mode = WAL");
  const kysely = new Kysely<Database>({
    dialect:
      dialect === "store"
        ? new StoreSqliteDialect(sqlite)
        : new SqliteDialect({ database: sqlite }),
  });
  open.push({ close: () => sqlite.open && sqlite.close() });
  await migrateLdakitDatabase(kysely as Kysely<unknown>);
  /** Another process's connection, failing at once on a lock. */
  const other = new Sqlite(path, { timeout: 0 });
  open.unshift(other);
  return { kysely, sqlite, other };
}

const batch = (path: string) => ({
  file_path: path,
  file_hash: "h",
  status: "pending" as const,
  created_at: "2024-01-01T00:00:00.000Z",
  updated_at: "2024-01-01T00:00:00.000Z",
});

describe("StoreSqliteDialect", () => {
  it("takes the write lock when a transaction begins, before it writes anything", async () => {
    for (const dialect of ["store", "stock"] as const) {
      const { kysely, other } = await store(dialect);
      let otherWrite: unknown;
      await kysely.transaction().execute(async (tx) => {
        await tx.selectFrom("training_batches").select("batch_id").execute();
        try {
          other
            .prepare("insert into models(name, dimensions, created_at) values ('m', 4, 'x')")
            .run();
          otherWrite = "written";
        } catch (error) {
          otherWrite = (error as { code?: string }).code;
        }
      });
      // Kysely's own driver begins a deferred transaction: the other process writes in between,
      // and this transaction would fail with SQLITE_BUSY only once it tries to write itself.
      expect({ dialect, otherWrite }).toEqual({
        dialect,
        otherWrite: dialect === "store" ? "SQLITE_BUSY" : "written",
      });
    }
  });

  it("keeps a query issued while a transaction awaits out of that transaction", async () => {
    const { kysely } = await store();
    let outside: Promise<unknown> | undefined;
    await expect(
      kysely.transaction().execute(async (tx) => {
        await tx.insertInto("training_batches").values(batch("/in")).execute();
        outside = kysely.insertInto("training_batches").values(batch("/out")).execute();
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await outside;
    const paths = await kysely.selectFrom("training_batches").select("file_path").execute();
    expect(paths.map((p) => p.file_path)).toEqual(["/out"]);
  });

  it("runs one SQL text with many parameter sets, returning rows, ids and changes", async () => {
    const { kysely } = await store();
    const ids: bigint[] = [];
    await kysely.transaction().execute(async (tx) => {
      for (let i = 0; i < 50; i++) {
        const r = await tx
          .insertInto("training_batches")
          .values(batch(`/f${i}`))
          .executeTakeFirst();
        ids.push(r.insertId as bigint);
      }
    });
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    const updated = await kysely
      .updateTable("training_batches")
      .set({ status: "importing" })
      .where("batch_id", "<=", 10)
      .executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(10n);
    for (const id of [3, 7, 42]) {
      const row = await kysely
        .selectFrom("training_batches")
        .select(["file_path", "status"])
        .where("batch_id", "=", id)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ file_path: `/f${id - 1}`, status: id <= 10 ? "importing" : "pending" });
    }
  });

  it("rolls back a failed transaction and leaves the connection usable", async () => {
    const { kysely, sqlite } = await store();
    await expect(
      kysely.transaction().execute(async (tx) => {
        await tx.insertInto("training_batches").values(batch("/a")).execute();
        // violates the status CHECK: the statement fails, the transaction must roll back whole
        await tx
          .insertInto("training_batches")
          .values({ ...batch("/b"), status: "bogus" as "pending" })
          .execute();
      }),
    ).rejects.toThrow();
    expect(sqlite.inTransaction).toBe(false);
    await kysely.insertInto("training_batches").values(batch("/c")).execute();
    const paths = await kysely.selectFrom("training_batches").select("file_path").execute();
    expect(paths.map((p) => p.file_path)).toEqual(["/c"]);
  });
});
