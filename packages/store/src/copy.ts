/**
 * Moving a store between databases — SQLite to PostgreSQL and back (`ldakit store copy`).
 *
 * Everything goes through Kysely's asynchronous API, so any pair of backends works. The source is
 * read in one snapshot (PostgreSQL: a read-only REPEATABLE READ transaction; SQLite: a read
 * transaction), so the copy is one consistent state even when someone writes meanwhile. The
 * target's rows are written in one transaction: the target ends up with the whole store or with
 * nothing. The files are copied inside that transaction, after the rows and before the commit,
 * each whole or not at all (temporary name, fsync, rename): a committed row never names a
 * missing file, and an interrupted copy leaves only files no row names, which the next writing
 * command's sweep removes (docs/ARCHITECTURE.md §3.1).
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { copyFile, mkdir, open, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { projectionMetaPath } from "@ldakit/format";
import {
  appliedMigrationNames,
  type Database,
  IN_PROGRESS_BATCH_STATUSES,
  type LdakitDialect,
  ldakitDialectOf,
  MIGRATION_NAMES,
  TABLE_NAMES,
} from "@ldakit/schema";
import { type Kysely, type RawBuilder, sql } from "kysely";

/** One side of a copy: a migrated ldakit database and the folder its stored paths are relative to. */
export interface StoreCopyEnd {
  kysely: Kysely<Database>;
  /** The store root: the folder that holds `embeddings/`; it must exist. */
  root: string;
  /**
   * How messages name this database (a file path, or a URL without its password); default
   * "the source database" / "the target database".
   */
  label?: string;
}

export interface StoreCopyOptions {
  /** Rows read from the source per query (default 2 000), so a large store never sits in memory. */
  pageSize?: number;
  /** Rows per INSERT statement (default 500, at most 500: within both backends' bind limits). */
  rowsPerInsert?: number;
  /** Files copied at the same time (default 8): their fsyncs overlap. */
  fileConcurrency?: number;
}

export interface StoreCopySummary {
  /** Rows copied, by table (every copied ldakit table, 0 for an empty one; not `store_settings`). */
  tables: Record<string, number>;
  /** Files copied into the target root (0 when both roots are one folder). */
  files: number;
  /** Their total size in bytes. */
  bytes: number;
}

/** Stable codes of {@link StoreCopyError}. */
export type StoreCopyErrorCode =
  /** An option out of range, a store root that is not an existing folder, or one database given as both ends. */
  | "BAD_ARGUMENT"
  /** A database lacks migrations of this ldakit (`ldakit migrate` it first), or has none at all. */
  | "SCHEMA_TOO_OLD"
  /** A database has a migration this ldakit does not know: a newer ldakit wrote it. */
  | "SCHEMA_TOO_NEW"
  /** The source has a table this ldakit's copy does not know, or a table's columns differ between the two databases. */
  | "SCHEMA_MISMATCH"
  /** The target already has rows in an ldakit table. */
  | "NOT_EMPTY"
  /** The source has a batch being processed, a projection reservation or recorded file removals: a writer is at work or an interrupted one left work. */
  | "SOURCE_BUSY"
  /** A row names a path that is not a relative POSIX path inside the store, or a model name no file name can be made of. */
  | "BAD_PATH"
  /** A file a source row names is not in the source store root. */
  | "FILE_MISSING"
  /** A file could not be written into the target root, or its folder synced. */
  | "WRITE_FAILED"
  /** A source value the target cannot hold exactly (a NUL character for PostgreSQL, a blob in a text column, …). */
  | "BAD_VALUE"
  /** The target refused an INSERT (its message is kept); the target is left as it was. */
  | "INSERT_FAILED";

/** Every refusal and failure of {@link copyStoreContents}: switch on `code`, show `message`. */
export class StoreCopyError extends Error {
  readonly code: StoreCopyErrorCode;

  constructor(code: StoreCopyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreCopyError";
    this.code = code;
  }
}

const DEFAULT_PAGE_SIZE = 2_000;
const MAX_ROWS_PER_INSERT = 500;
const DEFAULT_FILE_CONCURRENCY = 8;

/** Kysely's own bookkeeping tables, which each database keeps for itself. */
const MIGRATION_TABLES = new Set(["kysely_migration", "kysely_migration_lock"]);

/**
 * ldakit tables that describe one database, not the store's contents: `store_settings` holds a
 * PostgreSQL store's root, which is where the target's own files are — the target records its
 * own when it is opened, and a copied one would point it at the source's folder.
 */
const PER_DATABASE_TABLES = new Set<string>(["store_settings"]);

/** The tables a copy carries over, in foreign-key order. */
const COPIED_TABLES = TABLE_NAMES.filter((name) => !PER_DATABASE_TABLES.has(name));

type Row = Record<string, unknown>;

/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
type AnyDb = Kysely<Database>;

/** A table as a database has it: its columns in order, its primary key, its identity columns. */
interface TableShape {
  columns: string[];
  key: string[];
  identity: string[];
}

interface TablePlan {
  name: string;
  columns: string[];
  key: string;
  /** PostgreSQL target: the identity columns whose sequences follow the copied ids. */
  identity: string[];
}

/**
 * Copies every row of an ldakit store and the files its rows name from `source` to `target`,
 * which must be an empty ldakit database (both migrated to this ldakit's latest schema).
 *
 * Ids are kept (explicit ids; on PostgreSQL the identity sequences are then set past them), so
 * history, metrics and every path stay as they were; floats come across bit for bit, texts
 * unchanged, NULLs as NULLs. Refused before anything is written: a target with rows, a source a
 * writer is at work on, a file a row names that is missing. When both roots are one folder, no
 * file is copied. Throws a {@link StoreCopyError}.
 */
export async function copyStoreContents(
  source: StoreCopyEnd,
  target: StoreCopyEnd,
  options: StoreCopyOptions = {},
): Promise<StoreCopySummary> {
  const pageSize = positiveInteger(options.pageSize ?? DEFAULT_PAGE_SIZE, "pageSize");
  const rowsPerInsert = positiveInteger(
    options.rowsPerInsert ?? MAX_ROWS_PER_INSERT,
    "rowsPerInsert",
  );
  if (rowsPerInsert > MAX_ROWS_PER_INSERT) {
    throw new StoreCopyError(
      "BAD_ARGUMENT",
      `rowsPerInsert must be at most ${MAX_ROWS_PER_INSERT}, got ${rowsPerInsert}`,
    );
  }
  const fileConcurrency = positiveInteger(
    options.fileConcurrency ?? DEFAULT_FILE_CONCURRENCY,
    "fileConcurrency",
  );
  if (source.kysely === target.kysely) {
    throw new StoreCopyError(
      "BAD_ARGUMENT",
      "the source and the target are the same database: store copy needs two",
    );
  }
  const from = { ...source, label: source.label ?? "the source database" };
  const to = { ...target, label: target.label ?? "the target database" };
  const sourceRoot = await existingFolder(from.root, "source");
  const targetRoot = await existingFolder(to.root, "target");
  const sameRoot = sourceRoot === targetRoot;

  const targetDialect = ldakitDialectOf(to.kysely);
  // What can be refused from the target alone is refused before the source is even read.
  await checkMigrations(to.kysely, to.label);
  const targetShapes = await readTableShapes(to.kysely);
  await checkEmpty(to.kysely, to.label);

  return readSnapshot(from.kysely, async (src) => {
    await checkMigrations(src, from.label);
    const plan = planTables(await readTableShapes(src), targetShapes, from.label, to.label);
    await checkSourceIdle(src, from.label);
    const named = () => namedFiles(src, pageSize);
    // Every file must be there before the target is touched: a copy that stopped halfway
    // would have written for nothing.
    await forEachLimited(named(), fileConcurrency, async (file) => {
      await sourceFileSize(sourceRoot, file, from.label);
    });
    let copied = { files: 0, bytes: 0 };
    const tables = await copyRows(
      src,
      to,
      plan,
      targetDialect,
      pageSize,
      rowsPerInsert,
      async () => {
        if (!sameRoot) {
          copied = await copyFiles(named(), sourceRoot, targetRoot, fileConcurrency, from.label);
        }
      },
    );
    return { tables, ...copied };
  });
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new StoreCopyError(
      "BAD_ARGUMENT",
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

async function existingFolder(root: string, side: "source" | "target"): Promise<string> {
  try {
    const real = await realpath(root);
    if ((await stat(real)).isDirectory()) return real;
  } catch {
    // reported below
  }
  // A shared mount that is not mounted must not become a fresh empty root.
  throw new StoreCopyError(
    "BAD_ARGUMENT",
    `the ${side} store root ${root} is not an existing folder`,
  );
}

/**
 * Runs `fn` in one read snapshot of the source. PostgreSQL prints floats with every digit that
 * tells them apart only when `extra_float_digits` is positive (a server may set it lower), so it
 * is set for the snapshot: the numbers read are then the stored doubles exactly.
 */
async function readSnapshot<T>(db: AnyDb, fn: (src: AnyDb) => Promise<T>): Promise<T> {
  if (ldakitDialectOf(db) === "postgres") {
    return db
      .transaction()
      .setIsolationLevel("repeatable read")
      .setAccessMode("read only")
      .execute(async (tx) => {
        await sql`SET LOCAL extra_float_digits = 3`.execute(tx);
        return fn(tx);
      });
  }
  return db.transaction().execute(fn);
}

async function checkMigrations(db: AnyDb, label: string): Promise<void> {
  const applied = await appliedMigrationNames(db);
  const known = new Set<string>(MIGRATION_NAMES);
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new StoreCopyError(
      "SCHEMA_TOO_NEW",
      `${label} has migration ${unknown.join(", ")}, which this version of ldakit does not know: a newer ldakit wrote it — copy it with that version`,
    );
  }
  if (applied.length === 0) {
    throw new StoreCopyError(
      "SCHEMA_TOO_OLD",
      `${label} has no ldakit schema: create or migrate it with \`ldakit migrate\` first`,
    );
  }
  const missing = MIGRATION_NAMES.filter((name) => !applied.includes(name));
  if (missing.length > 0) {
    throw new StoreCopyError(
      "SCHEMA_TOO_OLD",
      `${label} is not migrated to this ldakit's schema (it lacks ${missing.join(", ")}): run \`ldakit migrate\` on it first`,
    );
  }
}

/** The base tables of the database's schema (SQLite: the file; PostgreSQL: `current_schema()`). */
async function readTableShapes(db: AnyDb): Promise<Map<string, TableShape>> {
  const rows =
    ldakitDialectOf(db) === "postgres"
      ? (
          await sql<{ table_name: string; column_name: string; pk: boolean; identity: boolean }>`
      SELECT c.relname AS table_name, a.attname AS column_name,
        coalesce(a.attnum = ANY (i.indkey), false) AS pk,
        a.attidentity <> '' AS identity
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
      ORDER BY c.relname, a.attnum
    `.execute(db)
        ).rows
      : (
          await sql<{ table_name: string; column_name: string; pk: number; identity: number }>`
      SELECT m.name AS table_name, p.name AS column_name, p.pk AS pk, 0 AS identity
      FROM sqlite_master m JOIN pragma_table_info(m.name) p
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
      ORDER BY m.name, p.cid
    `.execute(db)
        ).rows;
  const shapes = new Map<string, TableShape>();
  for (const row of rows) {
    if (MIGRATION_TABLES.has(row.table_name)) continue;
    let shape = shapes.get(row.table_name);
    if (!shape) {
      shape = { columns: [], key: [], identity: [] };
      shapes.set(row.table_name, shape);
    }
    shape.columns.push(row.column_name);
    if (row.pk) shape.key.push(row.column_name);
    if (row.identity) shape.identity.push(row.column_name);
  }
  return shapes;
}

/**
 * Which tables to copy, in foreign-key order, with the source's columns. A source table this
 * ldakit does not know would be left behind, so it is refused rather than silently dropped.
 */
function planTables(
  sourceShapes: Map<string, TableShape>,
  targetShapes: Map<string, TableShape>,
  sourceLabel: string,
  targetLabel: string,
): TablePlan[] {
  const known = new Set<string>(TABLE_NAMES);
  const unknown = [...sourceShapes.keys()].filter((name) => !known.has(name)).sort();
  if (unknown.length > 0) {
    throw new StoreCopyError(
      "SCHEMA_MISMATCH",
      `${sourceLabel} has table ${unknown.join(", ")}, which is not one of ldakit's tables; store copy would leave it behind — move it out of the database first`,
    );
  }
  return COPIED_TABLES.map((name) => {
    const from = sourceShapes.get(name);
    const to = targetShapes.get(name);
    const missingIn = !from ? sourceLabel : !to ? targetLabel : undefined;
    if (!from || !to) {
      throw new StoreCopyError(
        "SCHEMA_MISMATCH",
        `${missingIn} has no table ${name} although it is migrated: it is not a sound ldakit database`,
      );
    }
    const onlySource = from.columns.filter((c) => !to.columns.includes(c));
    const onlyTarget = to.columns.filter((c) => !from.columns.includes(c));
    if (onlySource.length > 0 || onlyTarget.length > 0) {
      const parts = [
        onlySource.length > 0 ? `${sourceLabel} alone has ${onlySource.join(", ")}` : "",
        onlyTarget.length > 0 ? `${targetLabel} alone has ${onlyTarget.join(", ")}` : "",
      ].filter((p) => p !== "");
      throw new StoreCopyError(
        "SCHEMA_MISMATCH",
        `table ${name} has different columns in the two databases: ${parts.join("; ")}`,
      );
    }
    const key = from.key[0];
    if (key === undefined || from.key.length !== 1) {
      throw new StoreCopyError(
        "SCHEMA_MISMATCH",
        `table ${name} of ${sourceLabel} has ${from.key.length === 0 ? "no primary key" : `a primary key of ${from.key.length} columns`}; ldakit's tables have one key column`,
      );
    }
    return { name, columns: from.columns, key, identity: to.identity };
  });
}

/** Refuses a target that holds any row of an ldakit table, naming the first such table. */
async function checkEmpty(db: AnyDb, label: string): Promise<void> {
  for (const table of COPIED_TABLES) {
    const found = await sql`SELECT 1 AS one FROM ${sql.table(table)} LIMIT 1`.execute(db);
    if (found.rows.length > 0) {
      throw new StoreCopyError(
        "NOT_EMPTY",
        `${label} already has rows in table ${table}: store copy writes only into an empty store, so that nothing in it is mixed with or overwritten by the copy`,
      );
    }
  }
}

/**
 * Refuses a source a writer is at work on, or that an interrupted writer left work in: its
 * batches in progress, reservations and pending removals describe files in flux.
 */
async function checkSourceIdle(db: AnyDb, label: string): Promise<void> {
  const repair = "wait for the workers to finish, or run `ldakit verify --repair` on it first";
  const busy = await db
    .selectFrom("training_batches")
    .select(["batch_id", "status", "claimed_by"])
    .where("status", "in", IN_PROGRESS_BATCH_STATUSES)
    .orderBy("batch_id")
    .limit(3)
    .execute();
  if (busy.length > 0) {
    const which = busy
      .map(
        (b) =>
          `${b.batch_id} (${b.status}${b.claimed_by === null ? "" : `, claimed by ${b.claimed_by}`})`,
      )
      .join(", ");
    throw new StoreCopyError(
      "SOURCE_BUSY",
      `${label} has batches being processed — batch ${which}: a worker is at work or an interrupted one left its batch; ${repair}`,
    );
  }
  const reserved = await db
    .selectFrom("projection_reservations")
    .select(["mh_projection_id", "owner"])
    .orderBy("mh_projection_id")
    .limit(1)
    .executeTakeFirst();
  if (reserved) {
    throw new StoreCopyError(
      "SOURCE_BUSY",
      `${label} has projection id ${reserved.mh_projection_id} reserved${reserved.owner === null ? " by a process that died" : ` by ${reserved.owner}`}: a projection is being written or an interrupted one left its files; ${repair}`,
    );
  }
  const removal = await db
    .selectFrom("file_removals")
    .select("path")
    .orderBy("path")
    .limit(1)
    .executeTakeFirst();
  if (removal) {
    throw new StoreCopyError(
      "SOURCE_BUSY",
      `${label} has recorded file removals not yet done (${removal.path}, …): a writer is at work or an interrupted one left them; ${repair}`,
    );
  }
}

/** Rows of `table` in primary-key order, `size` at a time (keyset paging: no OFFSET rescans). */
async function* pages(
  db: AnyDb,
  table: string,
  key: string,
  columns: readonly string[],
  size: number,
): AsyncGenerator<Row[]> {
  const select = sql.join(columns.map((c) => sql.ref(c)));
  let last: unknown;
  for (;;) {
    const after: RawBuilder<unknown> =
      last === undefined ? sql`` : sql`WHERE ${sql.ref(key)} > ${last}`;
    const { rows } = await sql<Row>`
      SELECT ${select} FROM ${sql.table(table)} ${after}
      ORDER BY ${sql.ref(key)} LIMIT ${sql.lit(size)}
    `.execute(db);
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < size) return;
    last = rows[rows.length - 1]?.[key];
  }
}

/** A file a source row names, and which row, for messages. */
interface NamedFile {
  path: string;
  where: string;
}

/**
 * Every file the source's rows name: vector files, head files, adapters, and each projection's
 * `mh_<id>.json`, whose path follows from its model's name and its id.
 */
async function* namedFiles(db: AnyDb, pageSize: number): AsyncGenerator<NamedFile> {
  for await (const rows of pages(
    db,
    "embeddings",
    "embedding_id",
    ["embedding_id", "vector_path"],
    pageSize,
  )) {
    for (const r of rows) {
      yield named(r.vector_path, `embeddings row ${r.embedding_id} (vector_path)`);
    }
  }
  const headColumns = ["centroid_path", "answer_emb_path", "W_path"];
  for await (const rows of pages(
    db,
    "cluster_heads",
    "head_id",
    ["head_id", ...headColumns],
    pageSize,
  )) {
    for (const r of rows) {
      for (const column of headColumns) {
        if (r[column] !== null)
          yield named(r[column], `cluster_heads row ${r.head_id} (${column})`);
      }
    }
  }
  const modelNames = new Map<number, string>();
  for await (const rows of pages(db, "models", "model_id", ["model_id", "name"], pageSize)) {
    for (const r of rows) modelNames.set(Number(r.model_id), String(r.name));
  }
  const projectionColumns = ["mh_projection_id", "model_id", "adapter_path"];
  for await (const rows of pages(
    db,
    "multi_head_projections",
    "mh_projection_id",
    projectionColumns,
    pageSize,
  )) {
    for (const r of rows) {
      const id = Number(r.mh_projection_id);
      const where = `multi_head_projections row ${id}`;
      const model = modelNames.get(Number(r.model_id)) ?? "";
      let metaPath: string;
      try {
        metaPath = projectionMetaPath(model, id);
      } catch (cause) {
        throw new StoreCopyError(
          "BAD_PATH",
          `${where}: its model ${JSON.stringify(model)} names no folder of the store, so its mh_${id}.json cannot be found: ${(cause as Error).message}`,
          { cause },
        );
      }
      yield { path: metaPath, where: `${where} (its mh_${id}.json)` };
      if (r.adapter_path !== null) yield named(r.adapter_path, `${where} (adapter_path)`);
    }
  }
}

/** A stored path, checked to be relative and inside the store before anything uses it. */
function named(path: unknown, where: string): NamedFile {
  if (
    typeof path !== "string" ||
    path.length === 0 ||
    path.startsWith("/") ||
    path.includes("\\") ||
    path.includes("\0") ||
    /^[A-Za-z]:/.test(path) ||
    path.split("/").some((part) => part === ".." || part === "." || part === "")
  ) {
    throw new StoreCopyError(
      "BAD_PATH",
      `${where}: ${JSON.stringify(path)} is not a relative POSIX path inside the store; run \`ldakit verify\` on the source`,
    );
  }
  return { path, where };
}

function absolutePath(root: string, storePath: string): string {
  return join(root, ...storePath.split("/"));
}

async function sourceFileSize(root: string, file: NamedFile, label: string): Promise<number> {
  const path = absolutePath(root, file.path);
  try {
    const info = await stat(path);
    if (info.isFile()) return info.size;
  } catch {
    // reported below
  }
  throw new StoreCopyError(
    "FILE_MISSING",
    `${file.where} of ${label} names ${file.path}, which is not a file in the source store root (${path}); nothing was copied — run \`ldakit verify\` on the source to see what else is wrong`,
  );
}

/** Runs `fn` on every item, at most `limit` at a time; the first failure stops the rest. */
async function forEachLimited<T>(
  items: AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  for await (const item of items) {
    if (failure) break;
    const task = fn(item).then(
      () => {
        running.delete(task);
      },
      (error: unknown) => {
        running.delete(task);
        failure ??= { error };
      },
    );
    running.add(task);
    if (running.size >= limit) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure) throw failure.error;
}

/**
 * Copies the named files into the target root: each to a temporary name in its folder (named as
 * the store's writers name theirs, so the sweep knows it), its data synced, then renamed into
 * place; at the end every folder that received a name is synced too.
 */
async function copyFiles(
  files: AsyncIterable<NamedFile>,
  sourceRoot: string,
  targetRoot: string,
  concurrency: number,
  label: string,
): Promise<{ files: number; bytes: number }> {
  const folders = new Set<string>();
  let count = 0;
  let bytes = 0;
  await forEachLimited(files, concurrency, async (file) => {
    const from = absolutePath(sourceRoot, file.path);
    const to = absolutePath(targetRoot, file.path);
    const folder = dirname(to);
    const size = await sourceFileSize(sourceRoot, file, label);
    const temporary = join(
      folder,
      `.${basename(to)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
    );
    try {
      if (!folders.has(folder)) {
        await mkdir(folder, { recursive: true });
        for (let f = folder; f.length >= targetRoot.length; f = dirname(f)) {
          folders.add(f);
          if (f === targetRoot) break;
        }
      }
      await copyFile(from, temporary, fsConstants.COPYFILE_EXCL);
      const handle = await open(temporary, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, to);
    } catch (cause) {
      // The cause is what matters; a temporary file that cannot go either is left to the sweep.
      await rm(temporary, { force: true }).catch(() => undefined);
      throw new StoreCopyError(
        "WRITE_FAILED",
        `cannot copy ${file.path} to ${to}: ${(cause as Error).message}`,
        { cause },
      );
    }
    count += 1;
    bytes += size;
  });
  // Deepest first, so that a folder's own entry in its parent is synced after its contents.
  const byDepth = [...folders].sort(
    (a, b) => relative(targetRoot, b).split(sep).length - relative(targetRoot, a).split(sep).length,
  );
  for (const folder of byDepth) {
    try {
      const handle = await open(folder, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (cause) {
      throw new StoreCopyError(
        "WRITE_FAILED",
        `cannot sync folder ${folder} after copying files into it: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  return { files: count, bytes };
}

/**
 * Inserts every source row into the target in one transaction, table by table in foreign-key
 * order, keeping every id, and runs `beforeCommit` (the file copy) before committing: a value the
 * target refuses leaves no file behind, and no committed row names a file not yet written. On
 * PostgreSQL the tables are locked against other writers first, so that the target is still empty
 * when the rows go in, and each identity sequence is then set to the largest id copied, so that
 * new rows get new ids.
 */
async function copyRows(
  src: AnyDb,
  target: StoreCopyEnd & { label: string },
  plan: readonly TablePlan[],
  dialect: LdakitDialect,
  pageSize: number,
  rowsPerInsert: number,
  beforeCommit: () => Promise<void>,
): Promise<Record<string, number>> {
  return target.kysely.transaction().execute(async (tx) => {
    if (dialect === "postgres") {
      await sql`LOCK TABLE ${sql.join(plan.map((t) => sql.table(t.name)))} IN EXCLUSIVE MODE`.execute(
        tx,
      );
    }
    await checkEmpty(tx, target.label);
    const counts: Record<string, number> = {};
    for (const table of plan) {
      let count = 0;
      for await (const rows of pages(src, table.name, table.key, table.columns, pageSize)) {
        const values = rows.map((row) => targetValues(row, table, dialect));
        for (let start = 0; start < values.length; start += rowsPerInsert) {
          const chunk = values.slice(start, start + rowsPerInsert);
          try {
            await sql`
              INSERT INTO ${sql.table(table.name)} (${sql.join(table.columns.map((c) => sql.ref(c)))})
              VALUES ${sql.join(chunk.map((v) => sql`(${sql.join(v)})`))}
            `.execute(tx);
          } catch (cause) {
            const first = rows[start]?.[table.key];
            const lastRow = rows[start + chunk.length - 1]?.[table.key];
            throw new StoreCopyError(
              "INSERT_FAILED",
              `${target.label} refused the rows of ${table.name} with ${table.key} ${String(first)} to ${String(lastRow)}: ${(cause as Error).message}; nothing was written to it`,
              { cause },
            );
          }
        }
        count += rows.length;
      }
      counts[table.name] = count;
      if (dialect === "postgres" && count > 0) {
        for (const column of table.identity) {
          await sql`
            SELECT setval(pg_get_serial_sequence(${table.name}, ${column}), max(${sql.ref(column)}))
            FROM ${sql.table(table.name)}
          `.execute(tx);
        }
      }
    }
    await beforeCommit();
    return counts;
  });
}

/**
 * A row's values in column order, as the target must be given them to store them exactly.
 * PostgreSQL is sent numbers as text: JavaScript prints −0 as "0", so it is spelled out.
 */
function targetValues(row: Row, table: TablePlan, dialect: LdakitDialect): unknown[] {
  return table.columns.map((column) => {
    const value = row[column];
    const where = () =>
      `${table.name} row ${table.key} = ${String(row[table.key])}, column ${column}`;
    if (value === null || typeof value === "number") {
      if (dialect === "postgres" && Object.is(value, -0)) return "-0";
      return value;
    }
    if (typeof value === "string") {
      if (dialect === "postgres" && value.includes("\0")) {
        throw new StoreCopyError(
          "BAD_VALUE",
          `${where()} holds a NUL character, which PostgreSQL text cannot store; nothing was written to the target`,
        );
      }
      if (LONE_SURROGATE.test(value)) {
        throw new StoreCopyError(
          "BAD_VALUE",
          `${where()} holds a lone UTF-16 surrogate, which no database's UTF-8 text can store; nothing was written to the target`,
        );
      }
      return value;
    }
    throw new StoreCopyError(
      "BAD_VALUE",
      `${where()} holds a ${value instanceof Uint8Array ? "blob" : typeof value}, where ldakit stores only text, numbers and NULL; nothing was written to the target`,
    );
  });
}
