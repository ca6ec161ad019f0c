import { modelEmbeddingsDir } from "@ldakit/format";
import type { Database, Model } from "@ldakit/schema";
import type { Kysely } from "kysely";
import type { Queries, StoreBackend, StoreDb } from "./db/store-db.js";
import { StoreError } from "./errors.js";
import { now, unstorableText } from "./util.js";
import { VectorFiles } from "./vectors.js";

/**
 * What the store's parts (pipeline, projections, search, verify) need from an open store. They
 * take this rather than `LDAProjectionDB`, which builds it and delegates to them: the class is the
 * public face, these modules are the work, and neither imports the other's module.
 */
export interface StoreContext {
  /** Names the database in messages: the absolute path of a SQLite file, or a URL without its password. */
  readonly path: string;
  /** The store root: the folder of `embeddings/` and the projection files. */
  readonly root: string;
  readonly backend: StoreBackend;
  /** The connection: transactions, locks, and the query builder. */
  readonly db: StoreDb;
  /** Builds every query, and runs single statements outside a transaction. */
  readonly kysely: Kysely<Database>;
  readonly vectors: VectorFiles;
  /**
   * The model row of `name`, created with these dimensions when new, its backend updated when
   * given. Runs on `q`: pass the caller's transaction.
   */
  ensureModel(q: Queries, name: string, dimensions: number, backend: string | null): Promise<Model>;
  /** The model row of an id; a `MODEL_NOT_FOUND` error when there is none. */
  modelById(modelId: number, q?: Queries): Promise<Model>;
  /**
   * The current time as the database stores it: ISO-8601 UTC text (see docs/FORMAT.md §5). On
   * PostgreSQL it is the server's clock (this machine's, corrected by the offset measured when
   * the store was opened): leases compare times written by many machines.
   */
  now(): string;
}

/** The context of a store whose database `db` has open at `path`, with its files under `root`. */
export function createStoreContext(
  path: string,
  root: string,
  db: StoreDb,
  clockOffsetMs = 0,
): StoreContext {
  const { kysely } = db;
  const context: StoreContext = {
    path,
    root,
    backend: db.backend,
    db,
    kysely,
    vectors: new VectorFiles(root),
    ensureModel: (q, name, dimensions, backend) =>
      ensureModel(context, q, name, dimensions, backend),
    async modelById(modelId, q = kysely) {
      const model = await q
        .selectFrom("models")
        .selectAll()
        .where("model_id", "=", modelId)
        .executeTakeFirst();
      if (!model) throw new StoreError("MODEL_NOT_FOUND", `no model with id ${modelId}`);
      return model;
    },
    now: clockOffsetMs === 0 ? now : () => new Date(Date.now() + clockOffsetMs).toISOString(),
  };
  return context;
}

async function ensureModel(
  ctx: StoreContext,
  q: Queries,
  name: string,
  dimensions: number,
  backend: string | null,
): Promise<Model> {
  // Before the lookup: PostgreSQL would refuse a NUL in the query's parameter with its own error.
  if (unstorableText(name) !== undefined) modelFolder(name);
  const backendProblem = backend === null ? undefined : unstorableText(backend);
  if (backendProblem !== undefined) {
    throw new StoreError("BAD_ARGUMENT", `model "${name}": backend holds ${backendProblem}`);
  }
  const recorded = await q
    .selectFrom("models")
    .selectAll()
    .where("name", "=", name)
    .executeTakeFirst();
  // The common case, a known model as recorded, takes no lock: imports of many workers would
  // otherwise queue behind one another until each commits.
  if (
    recorded !== undefined &&
    recorded.dimensions === dimensions &&
    (backend === null || recorded.backend === backend)
  ) {
    return recorded;
  }
  // Two workers importing their first batch of a new model at once must not both insert it.
  await ctx.db.lock(q, "models");
  const existing = await q
    .selectFrom("models")
    .selectAll()
    .where("name", "=", name)
    .executeTakeFirst();
  if (existing) {
    if (existing.dimensions !== dimensions) {
      throw new StoreError(
        "DIMENSION_MISMATCH",
        `model "${name}" is recorded with ${existing.dimensions} dimensions, but the embedder gives ${dimensions}`,
      );
    }
    if (backend !== null && existing.backend !== backend) {
      await q
        .updateTable("models")
        .set({ backend })
        .where("model_id", "=", existing.model_id)
        .execute();
      return { ...existing, backend };
    }
    return existing;
  }
  const folder = modelFolder(name);
  const clash = (await q.selectFrom("models").select("name").execute()).find(
    (m) => modelEmbeddingsDir(m.name) === folder,
  );
  if (clash) {
    throw new StoreError(
      "MODEL_FOLDER_TAKEN",
      `model "${name}" would share the folder ${folder} with model "${clash.name}"; rename one of them`,
    );
  }
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new StoreError(
      "BAD_ARGUMENT",
      `model "${name}": dimensions must be a positive integer, not ${dimensions}`,
    );
  }
  return (await q
    .insertInto("models")
    .values({ name, dimensions, backend, created_at: ctx.now() })
    .returningAll()
    .executeTakeFirstOrThrow()) as Model;
}

/** The model's folder under `embeddings/`; BAD_MODEL_NAME for a name that cannot become one. */
function modelFolder(name: string): string {
  try {
    return modelEmbeddingsDir(name);
  } catch (cause) {
    throw new StoreError("BAD_MODEL_NAME", (cause as Error).message, { cause });
  }
}
