/**
 * The crash-safe file lifecycle (docs/ARCHITECTURE.md §3.1): files to delete are recorded in the
 * transaction that drops their rows and removed after it commits; every writing command first
 * sweeps what an interrupted one left — recorded removals, stale temporary files, and files no
 * row names in the model folders — and `repair` does the same on demand.
 *
 * Whether a file may go is decided under the write lock (`BEGIN IMMEDIATE`), against what the
 * database says owns it: a row that names it, a batch being imported or embedded (whose files are
 * written after its rows and before its vector rows), or a live projection reservation (whose
 * files are written before its rows). Every writer records such ownership under the same lock
 * before it writes a file, so the sweep never deletes a file a live process is writing.
 */
import { type Dirent, readdirSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import {
  isTemporaryFileName,
  modelEmbeddingsDir,
  parseEmbeddingFileName,
  projectionMetaPath,
} from "@ldakit/format";
import type { StoreContext } from "./context.js";
import { crashPoint } from "./faults.js";

const HOST = hostname();

/** A temporary file older than this is stale even when its process id is in use again. */
const STALE_TEMPORARY_MS = 60 * 60_000;

/** Identifies this process as the owner of a claim or a reservation: `host:pid:nonce`. */
export function ownerToken(nonce: string): string {
  return `${HOST}:${process.pid}:${nonce}`;
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * True when the owner is a process on this host that no longer exists (or there is no owner).
 * A process of another host is never presumed dead: only a lease can tell.
 */
export function ownerIsDead(owner: string | null): boolean {
  if (!owner) return true;
  const [host, pid] = owner.split(":");
  if (host !== HOST) return false;
  return !pidIsAlive(Number(pid));
}

/** A file the lifecycle removed (or could not), as a store path with the reason. */
export interface SweptFile {
  path: string;
  reason: string;
  /** Set when the file could not be removed; it stays recorded and is tried again next time. */
  error?: string;
}

/** Records files to delete after the caller's transaction commits (in that transaction). */
export function recordRemovals(ctx: StoreContext, paths: readonly string[], reason: string): void {
  if (paths.length === 0) return;
  const insert = ctx.sql.statement(
    ctx.kysely
      .insertInto("file_removals")
      .values({ path: "", reason: "", recorded_at: "" })
      .onConflict((oc) => oc.column("path").doNothing()),
  );
  const stamp = ctx.now();
  for (const path of paths) insert.run(path, reason, stamp);
}

/**
 * Removes the recorded files, then their records, under the write lock; a recorded path that
 * something owns again (an id reused by a newer row) keeps its file. Returns what was removed.
 */
export function flushRemovals(ctx: StoreContext): SweptFile[] {
  const { sql, kysely } = ctx;
  const any = sql.first(kysely.selectFrom("file_removals").select("path").limit(1));
  if (any === undefined) return [];
  return sql.immediate("remove-files", () => {
    const rows = sql.all(
      kysely.selectFrom("file_removals").select(["path", "reason"]).orderBy("path"),
    );
    const claims = new FileClaims(ctx);
    const done: SweptFile[] = [];
    const remove = sql.statement(kysely.deleteFrom("file_removals").where("path", "=", ""));
    for (const row of rows) {
      if (!claims.claimed(row.path)) {
        const outcome = removeStoreFile(ctx, row.path, row.reason);
        if (outcome?.error !== undefined) {
          done.push(outcome);
          continue; // stays recorded
        }
        if (outcome) done.push(outcome);
      }
      remove.run(row.path);
    }
    return done;
  });
}

/** Unlinks a store file; `undefined` when it was not there. */
function removeStoreFile(ctx: StoreContext, path: string, reason: string): SweptFile | undefined {
  crashPoint("remove-file:before");
  try {
    rmSync(ctx.vectors.absolute(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    return { path, reason, error: `cannot remove it: ${(error as Error).message}` };
  } finally {
    crashPoint("remove-file:after");
  }
  return { path, reason };
}

/**
 * Who owns a file of a model folder, read in the caller's transaction. A path outside the
 * store's format (a folder of no model, a name outside the grammar) counts as owned: the
 * lifecycle deletes only files it knows it made.
 */
export class FileClaims {
  private readonly folders = new Map<string, number>();

  /**
   * `liveOnly`: a batch or reservation counts only while its owner is alive (what `verify` asks:
   * is someone writing this file now?). The sweep leaves it false: it has already released what
   * dead owners held.
   */
  constructor(
    private readonly ctx: StoreContext,
    private readonly liveOnly = false,
  ) {
    for (const model of ctx.sql.all(ctx.kysely.selectFrom("models").select(["model_id", "name"]))) {
      try {
        this.folders.set(modelEmbeddingsDir(model.name), model.model_id);
      } catch {
        // a model name with no folder has no files
      }
    }
  }

  claimed(path: string): boolean {
    const slash = path.lastIndexOf("/");
    const modelId = this.folders.get(path.slice(0, slash));
    const parsed = parseEmbeddingFileName(path.slice(slash + 1));
    if (modelId === undefined || parsed === null) return true;
    const { sql, kysely } = this.ctx;
    switch (parsed.kind) {
      case "question":
      case "answer": {
        const entityId = parsed.kind === "question" ? parsed.questionId : parsed.clusterId;
        const named = sql.first(
          kysely
            .selectFrom("embeddings")
            .select("embedding_id")
            .where("model_id", "=", modelId)
            .where("entity_type", "=", parsed.kind)
            .where("entity_id", "=", entityId)
            .where("vector_path", "=", path),
        );
        if (named) return true;
        // A batch being imported or embedded writes its files before it records them.
        let inProgress = kysely
          .selectFrom("clusters")
          .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
          .select(["clusters.cluster_id", "training_batches.claimed_by"])
          .where("clusters.model_id", "=", modelId)
          .where("training_batches.status", "in", ["importing", "embedding"]);
        inProgress =
          parsed.kind === "question"
            ? inProgress
                .innerJoin("questions", "questions.cluster_id", "clusters.cluster_id")
                .where("questions.question_id", "=", parsed.questionId)
            : inProgress.where("clusters.cluster_id", "=", parsed.clusterId);
        const batch = sql.first(inProgress);
        return batch !== undefined && !(this.liveOnly && ownerIsDead(batch.claimed_by));
      }
      case "head-centroid":
      case "head-answer": {
        const column = parsed.kind === "head-centroid" ? "centroid_path" : "answer_emb_path";
        const named = sql.first(
          kysely
            .selectFrom("cluster_heads")
            .select("head_id")
            .where("mh_projection_id", "=", parsed.mhProjectionId)
            .where("cluster_id", "=", parsed.clusterId)
            .where(column, "=", path),
        );
        return named !== undefined || this.reserved(parsed.mhProjectionId, modelId);
      }
      case "projection-meta":
      case "projection-adapter": {
        let query = kysely
          .selectFrom("multi_head_projections")
          .select("mh_projection_id")
          .where("mh_projection_id", "=", parsed.mhProjectionId)
          .where("model_id", "=", modelId);
        if (parsed.kind === "projection-adapter") query = query.where("adapter_path", "=", path);
        return sql.first(query) !== undefined || this.reserved(parsed.mhProjectionId, modelId);
      }
    }
  }

  /** A projection id a live process reserved to write its files. */
  private reserved(mhProjectionId: number, modelId: number): boolean {
    const row = this.ctx.sql.first(
      this.ctx.kysely
        .selectFrom("projection_reservations")
        .select("owner")
        .where("mh_projection_id", "=", mhProjectionId)
        .where("model_id", "=", modelId),
    );
    return row !== undefined && row.owner !== null && !(this.liveOnly && ownerIsDead(row.owner));
  }
}

/** Is a temporary file's writer gone? Its pid is in the name (`@ldakit/npy`'s and projections' writers). */
export function temporaryFileIsStale(absolute: string, name: string): boolean {
  const parts = name.split(".");
  // `.<name>.<pid>.<nonce>.tmp` (npy) or `<name>.<pid>.tmp` (mh_<id>.json)
  const pid = Number(name.startsWith(".") ? parts.at(-3) : parts.at(-2));
  if (Number.isInteger(pid) && pid > 0 && !pidIsAlive(pid)) return true;
  try {
    return Date.now() - statSync(absolute).mtimeMs > STALE_TEMPORARY_MS;
  } catch {
    return false; // gone already
  }
}

function listDir(absolute: string): Dirent[] {
  try {
    return readdirSync(absolute, { withFileTypes: true });
  } catch {
    return [];
  }
}

export interface SweepOptions {
  /**
   * Also put back batches whose worker has not renewed its lease for this long (ms); without
   * it only batches whose worker is a dead process of this host are put back.
   */
  leaseMs?: number;
  /**
   * Puts an abandoned in-progress batch back to `pending`, recording its files for removal, in
   * the caller's transaction; returns how many it put back. The pipeline provides it.
   */
  reclaimBatches?: (ctx: StoreContext, leaseMs: number | undefined) => number;
}

/**
 * What an interrupted writer left: abandoned batches and projection reservations are released,
 * recorded removals done, stale temporary files and files no row names deleted. Returns every
 * file removed, each with its reason.
 */
export function sweep(ctx: StoreContext, options: SweepOptions = {}): SweptFile[] {
  const { sql, kysely } = ctx;
  const swept: SweptFile[] = [];

  const deadReservations = sql
    .all(kysely.selectFrom("projection_reservations").select(["mh_projection_id", "owner"]))
    .filter((r) => r.owner !== null && ownerIsDead(r.owner));
  const abandonedBatches = sql
    .all(
      kysely
        .selectFrom("training_batches")
        .select(["claimed_by", "updated_at"])
        .where("status", "in", ["importing", "embedding"]),
    )
    .filter(
      (b) =>
        ownerIsDead(b.claimed_by) ||
        (options.leaseMs !== undefined &&
          b.updated_at < new Date(Date.now() - options.leaseMs).toISOString()),
    );
  if (deadReservations.length > 0 || abandonedBatches.length > 0) {
    sql.immediate(
      "sweep-release",
      () => {
        options.reclaimBatches?.(ctx, options.leaseMs);
        for (const r of deadReservations) {
          // Kept with no owner, so the id is never handed out again (see migration 006).
          sql.run(
            kysely
              .updateTable("projection_reservations")
              .set({ owner: null })
              .where("mh_projection_id", "=", r.mh_projection_id)
              .where("owner", "=", r.owner),
          );
        }
      },
      { durable: true },
    );
  }

  swept.push(...flushRemovals(ctx));

  const named = new Set<string>();
  const candidates: string[] = [];
  swept.push(...removeStaleTemporaryFiles(ctx, "embeddings"));
  for (const model of sql.all(kysely.selectFrom("models").select("name"))) {
    let folder: string;
    try {
      folder = modelEmbeddingsDir(model.name);
    } catch {
      continue; // a model name with no folder has no files
    }
    const entries = listDir(ctx.vectors.absolute(folder));
    if (entries.length === 0) continue;
    swept.push(...removeStaleTemporaryFiles(ctx, folder, entries));
    if (named.size === 0) for (const path of namedPaths(ctx)) named.add(path);
    for (const entry of entries) {
      const path = `${folder}/${entry.name}`;
      if (
        entry.isFile() &&
        !isTemporaryFileName(entry.name) &&
        !named.has(path) &&
        parseEmbeddingFileName(entry.name) !== null
      ) {
        candidates.push(path);
      }
    }
  }
  if (candidates.length > 0) {
    swept.push(
      ...sql.immediate("sweep-orphans", () => {
        const claims = new FileClaims(ctx);
        const removed: SweptFile[] = [];
        for (const path of candidates.sort()) {
          if (claims.claimed(path)) continue;
          const outcome = removeStoreFile(ctx, path, "orphan: no row of the database names it");
          if (outcome) removed.push(outcome);
        }
        return removed;
      }),
    );
  }
  return swept;
}

/**
 * Removes the stale temporary files of one store folder (`entries`: its listing, when the caller
 * has it); returns what it removed.
 */
export function removeStaleTemporaryFiles(
  ctx: StoreContext,
  folder: string,
  entries: Dirent[] = listDir(ctx.vectors.absolute(folder)),
): SweptFile[] {
  const removed: SweptFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !isTemporaryFileName(entry.name)) continue;
    const path = `${folder}/${entry.name}`;
    if (!temporaryFileIsStale(ctx.vectors.absolute(path), entry.name)) continue;
    const outcome = removeStoreFile(ctx, path, "temporary file of an interrupted write");
    if (outcome) removed.push(outcome);
  }
  return removed;
}

/** Every store path a row names: vector files, head files, adapters and `mh_<id>.json`. */
function namedPaths(ctx: StoreContext): string[] {
  const { sql, kysely } = ctx;
  const paths = sql
    .all(kysely.selectFrom("embeddings").select("vector_path"))
    .map((r) => r.vector_path);
  for (const h of sql.all(
    kysely.selectFrom("cluster_heads").select(["centroid_path", "answer_emb_path"]),
  )) {
    paths.push(h.centroid_path, h.answer_emb_path);
  }
  for (const p of sql.all(
    kysely
      .selectFrom("multi_head_projections")
      .innerJoin("models", "models.model_id", "multi_head_projections.model_id")
      .select(["mh_projection_id", "adapter_path", "models.name"]),
  )) {
    if (p.adapter_path !== null) paths.push(p.adapter_path);
    try {
      paths.push(projectionMetaPath(p.name, p.mh_projection_id));
    } catch {}
  }
  return paths;
}
