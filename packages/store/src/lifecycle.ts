/**
 * The crash-safe file lifecycle (docs/ARCHITECTURE.md §3.1): files to delete are recorded in the
 * transaction that drops their rows and removed after it commits; every writing command first
 * sweeps what an interrupted one left — recorded removals, stale temporary files, and files no
 * row names in the model folders — and `repair` does the same on demand.
 *
 * Whether a file may go is decided under the lifecycle lock — SQLite's write lock, or on
 * PostgreSQL the advisory lock `lifecycle` taken exclusively, which every transaction that
 * creates or drops ownership takes shared ({@link holdLifecycle}) — against what the database
 * says owns it: a row that names it, a batch being imported or embedded (whose files are
 * written after its rows and before its vector rows), or a live projection reservation (whose
 * files are written before its rows). Every writer records such ownership under the same lock
 * before it writes a file, so the sweep never deletes a file a live process is writing.
 */
import { type Dirent, readdirSync, rmSync, statSync } from "node:fs";
import {
  isTemporaryFileName,
  modelEmbeddingsDir,
  parseEmbeddingFileName,
  projectionMetaPath,
} from "@ldakit/format";
import type { StoreContext } from "./context.js";
import type { Queries } from "./db/store-db.js";
import { crashPoint } from "./faults.js";
import { machineId, machineTag } from "./machine.js";

/** A temporary file older than this is stale even when its process id is in use again. */
const STALE_TEMPORARY_MS = 60 * 60_000;

/**
 * Identifies this process as the owner of a claim or a reservation: `machine:pid:nonce`, the
 * machine as {@link machineId} names it (a process id is meaningful on its own machine only).
 */
export function ownerToken(nonce: string): string {
  return `${machineId()}:${process.pid}:${nonce}`;
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
 * True when the owner is a process of this machine that no longer exists (or there is no owner).
 * A process of another machine — or of a token written before machine ids, which named the host —
 * is never presumed dead: only its lease can tell.
 */
export function ownerIsDead(owner: string | null): boolean {
  if (!owner) return true;
  const [machine, pid] = owner.split(":");
  if (machine !== machineId()) return false;
  return !pidIsAlive(Number(pid));
}

/** The time `ms` after `now` (both in the database's ISO-8601 form): when a lease taken now ends. */
export function leaseEnd(now: string, ms: number): string {
  return new Date(Date.parse(now) + ms).toISOString();
}

/**
 * True when what `owner` holds may be taken from it: the owner is dead ({@link ownerIsDead}), or
 * its lease ended before `now`. A lease of NULL (a row written before leases) decides nothing.
 */
export function ownerIsGone(
  owner: string | null,
  leaseExpiresAt: string | null,
  now: string,
): boolean {
  return ownerIsDead(owner) || (leaseExpiresAt !== null && leaseExpiresAt < now);
}

/** What decides whether a batch's claim has lapsed. */
export interface ClaimedBatch {
  claimed_by: string | null;
  updated_at: string;
  lease_expires_at: string | null;
}

/**
 * True when an `importing` or `embedding` batch may be taken from its worker at `now`: the
 * worker is gone ({@link ownerIsGone}), or — for a claim written before leases, whose
 * `lease_expires_at` is NULL — `updated_at` is older than `leaseMs`, when given.
 */
export function claimHasLapsed(batch: ClaimedBatch, now: string, leaseMs?: number): boolean {
  if (ownerIsGone(batch.claimed_by, batch.lease_expires_at, now)) return true;
  return (
    batch.lease_expires_at === null &&
    leaseMs !== undefined &&
    batch.updated_at < leaseEnd(now, -leaseMs)
  );
}

/** A file the lifecycle removed (or could not), as a store path with the reason. */
export interface SweptFile {
  path: string;
  reason: string;
  /** Set when the file could not be removed; it stays recorded and is tried again next time. */
  error?: string;
}

/**
 * Marks the caller's transaction as one that creates or drops file ownership: on PostgreSQL it
 * takes the `lifecycle` lock shared, so it cannot interleave with the sweep's decisions (which
 * take it exclusively) but runs beside other workers. SQLite's write lock already does both.
 */
export function holdLifecycle(ctx: StoreContext, q: Queries): Promise<void> {
  return ctx.db.lock(q, "lifecycle", "shared");
}

/** Rows per multi-row INSERT: under both backends' limits on bound parameters. */
const ROWS_PER_INSERT = 500;

/** Records files to delete after the caller's transaction commits (in that transaction). */
export async function recordRemovals(
  ctx: StoreContext,
  q: Queries,
  paths: readonly string[],
  reason: string,
): Promise<void> {
  const stamp = ctx.now();
  // Sorted and unique: a multi-row INSERT … ON CONFLICT may not name one key twice on PostgreSQL.
  const unique = [...new Set(paths)].sort();
  for (let i = 0; i < unique.length; i += ROWS_PER_INSERT) {
    await q
      .insertInto("file_removals")
      .values(
        unique.slice(i, i + ROWS_PER_INSERT).map((path) => ({ path, reason, recorded_at: stamp })),
      )
      .onConflict((oc) => oc.column("path").doNothing())
      .execute();
  }
}

/**
 * Removes the recorded files, then their records, under the lifecycle lock; a recorded path that
 * something owns again (an id reused by a newer row) keeps its file. Returns what was removed.
 */
export async function flushRemovals(ctx: StoreContext): Promise<SweptFile[]> {
  const any = await ctx.kysely.selectFrom("file_removals").select("path").limit(1).execute();
  if (any.length === 0) return [];
  return ctx.db.transaction("remove-files", async (q) => {
    await ctx.db.lock(q, "lifecycle", "exclusive");
    const rows = await q
      .selectFrom("file_removals")
      .select(["path", "reason"])
      .orderBy("path")
      .execute();
    const claims = await FileClaims.load(ctx, q);
    const done: SweptFile[] = [];
    const gone: string[] = [];
    for (const row of rows) {
      if (!(await claims.claimed(row.path))) {
        const outcome = removeStoreFile(ctx, row.path, row.reason);
        if (outcome?.error !== undefined) {
          done.push(outcome);
          continue; // stays recorded
        }
        if (outcome) done.push(outcome);
      }
      gone.push(row.path);
    }
    for (let i = 0; i < gone.length; i += ROWS_PER_INSERT) {
      await q
        .deleteFrom("file_removals")
        .where("path", "in", gone.slice(i, i + ROWS_PER_INSERT))
        .execute();
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
  private constructor(
    private readonly q: Queries,
    private readonly folders: Map<string, number>,
    private readonly liveOnly: boolean,
    /** When ownership was read: leases that ended before it hold nothing (with `liveOnly`). */
    private readonly now: string,
  ) {}

  /**
   * Reads ownership on `q` (the caller's transaction, or `ctx.kysely`). `liveOnly`: a batch or
   * reservation counts only while its owner is alive and its lease runs (what `verify` asks: is
   * someone writing this file now?). The sweep leaves it false: it has already released what
   * dead owners held.
   */
  static async load(ctx: StoreContext, q: Queries, liveOnly = false): Promise<FileClaims> {
    const folders = new Map<string, number>();
    for (const model of await q.selectFrom("models").select(["model_id", "name"]).execute()) {
      try {
        folders.set(modelEmbeddingsDir(model.name), model.model_id);
      } catch {
        // a model name with no folder has no files
      }
    }
    return new FileClaims(q, folders, liveOnly, ctx.now());
  }

  async claimed(path: string): Promise<boolean> {
    const slash = path.lastIndexOf("/");
    const modelId = this.folders.get(path.slice(0, slash));
    const parsed = parseEmbeddingFileName(path.slice(slash + 1));
    if (modelId === undefined || parsed === null) return true;
    const kysely = this.q;
    switch (parsed.kind) {
      case "question":
      case "answer": {
        const entityId = parsed.kind === "question" ? parsed.questionId : parsed.clusterId;
        const named = await kysely
          .selectFrom("embeddings")
          .select("embedding_id")
          .where("model_id", "=", modelId)
          .where("entity_type", "=", parsed.kind)
          .where("entity_id", "=", entityId)
          .where("vector_path", "=", path)
          .executeTakeFirst();
        if (named) return true;
        // A batch being imported or embedded writes its files before it records them.
        let inProgress = kysely
          .selectFrom("clusters")
          .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
          .select([
            "clusters.cluster_id",
            "training_batches.claimed_by",
            "training_batches.lease_expires_at",
          ])
          .where("clusters.model_id", "=", modelId)
          .where("training_batches.status", "in", ["importing", "embedding"]);
        inProgress =
          parsed.kind === "question"
            ? inProgress
                .innerJoin("questions", "questions.cluster_id", "clusters.cluster_id")
                .where("questions.question_id", "=", parsed.questionId)
            : inProgress.where("clusters.cluster_id", "=", parsed.clusterId);
        const batch = await inProgress.executeTakeFirst();
        return (
          batch !== undefined &&
          !(this.liveOnly && ownerIsGone(batch.claimed_by, batch.lease_expires_at, this.now))
        );
      }
      case "head-centroid":
      case "head-answer": {
        const column = parsed.kind === "head-centroid" ? "centroid_path" : "answer_emb_path";
        const named = await kysely
          .selectFrom("cluster_heads")
          .select("head_id")
          .where("mh_projection_id", "=", parsed.mhProjectionId)
          .where("cluster_id", "=", parsed.clusterId)
          .where(column, "=", path)
          .executeTakeFirst();
        return named !== undefined || (await this.reserved(parsed.mhProjectionId, modelId));
      }
      case "projection-meta":
      case "projection-adapter": {
        let query = kysely
          .selectFrom("multi_head_projections")
          .select("mh_projection_id")
          .where("mh_projection_id", "=", parsed.mhProjectionId)
          .where("model_id", "=", modelId);
        if (parsed.kind === "projection-adapter") query = query.where("adapter_path", "=", path);
        return (
          (await query.executeTakeFirst()) !== undefined ||
          (await this.reserved(parsed.mhProjectionId, modelId))
        );
      }
    }
  }

  /** A projection id a live process reserved to write its files. */
  private async reserved(mhProjectionId: number, modelId: number): Promise<boolean> {
    const row = await this.q
      .selectFrom("projection_reservations")
      .select(["owner", "lease_expires_at"])
      .where("mh_projection_id", "=", mhProjectionId)
      .where("model_id", "=", modelId)
      .executeTakeFirst();
    return (
      row !== undefined &&
      row.owner !== null &&
      !(this.liveOnly && ownerIsGone(row.owner, row.lease_expires_at, this.now))
    );
  }
}

/**
 * Is a temporary file's writer gone? Its pid is in the name (`@ldakit/npy`'s and projections'
 * writers), after which the writer's machine tag, when the name has one:
 * `.<name>.<pid>.<tag>-<random>.tmp`. A pid is trusted only when the tag is this machine's — on a
 * store root shared by machines, the same number on another machine is another process — or
 * when there is no tag (a name written before tags, by a writer of one machine). Otherwise, and
 * for a live pid, only an age of an hour makes the file stale.
 */
export function temporaryFileIsStale(absolute: string, name: string): boolean {
  const parts = name.split(".");
  // `.<name>.<pid>.<nonce>.tmp` (npy, and mh_<id>.json now) or `<name>.<pid>.tmp` (older mh_<id>.json)
  const dotted = name.startsWith(".");
  const pid = Number(dotted ? parts.at(-3) : parts.at(-2));
  const tag = dotted ? /^([0-9A-Za-z_]+)-[0-9a-f]+$/.exec(parts.at(-2) ?? "")?.[1] : undefined;
  const pidIsOurs = tag === undefined || tag === machineTag();
  if (pidIsOurs && Number.isInteger(pid) && pid > 0 && !pidIsAlive(pid)) return true;
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
   * Also put back batches claimed before leases were recorded (`lease_expires_at` NULL) whose
   * `updated_at` is older than this (ms). Batches whose worker is a dead process of this machine,
   * or whose recorded lease has ended, are put back in any case.
   */
  leaseMs?: number;
  /**
   * Puts an abandoned in-progress batch back to `pending`, recording its files for removal, in
   * the caller's transaction; returns how many it put back. The pipeline provides it.
   */
  reclaimBatches?: (ctx: StoreContext, q: Queries, leaseMs: number | undefined) => Promise<number>;
}

/**
 * What an interrupted writer left: abandoned batches and projection reservations are released,
 * recorded removals done, stale temporary files and files no row names deleted. Returns every
 * file removed, each with its reason.
 */
export async function sweep(ctx: StoreContext, options: SweepOptions = {}): Promise<SweptFile[]> {
  const { kysely } = ctx;
  const swept: SweptFile[] = [];

  const now = ctx.now();
  const goneReservations = (
    await kysely
      .selectFrom("projection_reservations")
      .select(["mh_projection_id", "owner", "lease_expires_at"])
      .execute()
  ).filter((r) => r.owner !== null && ownerIsGone(r.owner, r.lease_expires_at, now));
  const abandonedBatches = (
    await kysely
      .selectFrom("training_batches")
      .select(["claimed_by", "updated_at", "lease_expires_at"])
      .where("status", "in", ["importing", "embedding"])
      .execute()
  ).filter((b) => claimHasLapsed(b, now, options.leaseMs));
  if (goneReservations.length > 0 || abandonedBatches.length > 0) {
    await ctx.db.transaction(
      "sweep-release",
      async (q) => {
        await holdLifecycle(ctx, q);
        await options.reclaimBatches?.(ctx, q, options.leaseMs);
        const stamp = ctx.now();
        for (const r of goneReservations) {
          // Kept with no owner, so the id is never handed out again (see migration 006). A lease
          // renewed since it was read keeps the reservation: the condition is checked again here.
          let release = q
            .updateTable("projection_reservations")
            .set({ owner: null, lease_expires_at: null })
            .where("mh_projection_id", "=", r.mh_projection_id)
            .where("owner", "=", r.owner);
          if (!ownerIsDead(r.owner)) release = release.where("lease_expires_at", "<", stamp);
          await release.execute();
        }
      },
      { durable: true },
    );
  }

  swept.push(...(await flushRemovals(ctx)));

  const named = new Set<string>();
  const candidates: string[] = [];
  swept.push(...removeStaleTemporaryFiles(ctx, "embeddings"));
  for (const model of await kysely.selectFrom("models").select("name").execute()) {
    let folder: string;
    try {
      folder = modelEmbeddingsDir(model.name);
    } catch {
      continue; // a model name with no folder has no files
    }
    const entries = listDir(ctx.vectors.absolute(folder));
    if (entries.length === 0) continue;
    swept.push(...removeStaleTemporaryFiles(ctx, folder, entries));
    if (named.size === 0) for (const path of await namedPaths(ctx)) named.add(path);
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
      ...(await ctx.db.transaction("sweep-orphans", async (q) => {
        await ctx.db.lock(q, "lifecycle", "exclusive");
        const claims = await FileClaims.load(ctx, q);
        const removed: SweptFile[] = [];
        for (const path of candidates.sort()) {
          if (await claims.claimed(path)) continue;
          const outcome = removeStoreFile(ctx, path, "orphan: no row of the database names it");
          if (outcome) removed.push(outcome);
        }
        return removed;
      })),
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
async function namedPaths(ctx: StoreContext): Promise<string[]> {
  const { kysely } = ctx;
  const paths = (await kysely.selectFrom("embeddings").select("vector_path").execute()).map(
    (r) => r.vector_path,
  );
  for (const h of await kysely
    .selectFrom("cluster_heads")
    .select(["centroid_path", "answer_emb_path"])
    .execute()) {
    paths.push(h.centroid_path, h.answer_emb_path);
  }
  for (const p of await kysely
    .selectFrom("multi_head_projections")
    .innerJoin("models", "models.model_id", "multi_head_projections.model_id")
    .select(["mh_projection_id", "adapter_path", "models.name"])
    .execute()) {
    if (p.adapter_path !== null) paths.push(p.adapter_path);
    try {
      paths.push(projectionMetaPath(p.name, p.mh_projection_id));
    } catch {}
  }
  return paths;
}
