/**
 * Checks a store folder against the on-disk format (docs/FORMAT.md; the names, paths and the
 * rules of `mh_<id>.json` are `@ldakit/format`'s): the vector files the database names, the
 * files nobody names, and every projection's `mh_<id>.json` and head files against the database
 * rows. Read-only: it reports, it never repairs.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import {
  entityVectorPath,
  headAnswerPath,
  headCentroidPath,
  isTemporaryFileName,
  modelEmbeddingsDir,
  PROJECTION_META_FORMATS,
  type ProjectionMeta,
  parseEmbeddingFileName,
  projectionAdapterPath,
  projectionMetaPath,
  projectionMetaProblems,
} from "@ldakit/format";
import { NpyError, readNpyHeaderSync, readNpySync } from "@ldakit/npy";
import type { Model } from "@ldakit/schema";
import type { StoreContext } from "./context.js";
import { FileClaims, temporaryFileIsStale } from "./lifecycle.js";
import { readRegularFile } from "./pipeline/scan.js";

export interface VerifyOptions {
  /**
   * Check only this projection: its row, `mh_<id>.json` and head files. Without it, every
   * `embeddings` row's file, every file under `embeddings/` and every projection is checked.
   */
  mhProjectionId?: number;
}

/**
 * One thing wrong with the store: `path` is relative to the store root (POSIX), e.g.
 * `embeddings/hash-384/q_001.npy`; a problem of the database itself names the SQLite file
 * (`lda.db`) or the PostgreSQL URL without its password.
 */
export interface VerifyProblem {
  path: string;
  problem: string;
}

export interface VerifyResult {
  /** Empty when the store is sound. Ordered by path. */
  problems: VerifyProblem[];
  /** How many files were opened and checked, and how many projections. */
  checked: { files: number; projections: number };
}

/**
 * Checks a store folder against the on-disk format and its database:
 *
 * - every `embeddings` row's file exists under the canonical name of its entity
 *   (`q_<question id>.npy`, `a_<cluster id>.npy`, ids zero-padded to at least 3 digits) in the
 *   folder of its model (the model name with `/` written `__`), and is a complete `(d,)` `<f4`
 *   or `<f8` vector of the model's dimensions with no NaN or infinity;
 * - under `embeddings/`: files that no row names (orphans), leftover temporary files (`*.tmp`),
 *   folders that belong to no model, and anything else that is not part of the format;
 * - for each projection: `mh_<id>.json` exists, is JSON in the `ldakit.mh/1` or `ldakit.mh/2`
 *   format, and its model, dimensions, temperature, num_heads, cluster_ids, adapter and blend
 *   agree with the `multi_head_projections` and `cluster_heads` rows; every head's centroid and
 *   answer file has its canonical name in `cluster_heads`, exists, and is a sound vector as above;
 *   the query adapter, when the row or the json names one, is `mh_<id>_W.npy`, exists, and is a
 *   complete `(d, d)` `<f4` or `<f8` matrix with no NaN or infinity.
 */
export async function verifyStore(
  ctx: StoreContext,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const mhId = options.mhProjectionId;
  const v = new Verifier(ctx);
  const models = await ctx.kysely.selectFrom("models").selectAll().orderBy("model_id").execute();
  const modelsById = new Map(models.map((m) => [m.model_id, m]));
  const folders = new Map<string, Model>();
  for (const model of models) {
    const folder = v.modelFolder(model);
    if (folder !== null) folders.set(folder, model);
  }

  let projectionsQuery = ctx.kysely
    .selectFrom("multi_head_projections")
    .selectAll()
    .orderBy("mh_projection_id");
  if (mhId !== undefined) {
    projectionsQuery = projectionsQuery.where("mh_projection_id", "=", mhId);
  }
  const projections = await projectionsQuery.execute();
  if (mhId !== undefined && projections.length === 0) {
    v.report(v.dbPath, `no projection with id ${mhId} in the database`);
  }

  let headsQuery = ctx.kysely.selectFrom("cluster_heads").selectAll().orderBy("head_id");
  if (mhId !== undefined) {
    headsQuery = headsQuery.where("mh_projection_id", "=", mhId);
  }
  const heads = await headsQuery.execute();
  const headsByProjection = new Map<number, typeof heads>();
  for (const head of heads) {
    const list = headsByProjection.get(head.mh_projection_id) ?? [];
    list.push(head);
    headsByProjection.set(head.mh_projection_id, list);
  }

  for (const projection of projections) {
    const model = modelsById.get(projection.model_id);
    if (!model) continue; // the foreign key makes this impossible
    v.checkProjection(projection, model, headsByProjection.get(projection.mh_projection_id) ?? []);
  }

  if (mhId === undefined) {
    const rows = await ctx.kysely
      .selectFrom("embeddings")
      .selectAll()
      .orderBy("embedding_id")
      .execute();
    for (const row of rows) {
      const model = modelsById.get(row.model_id);
      if (model) v.checkEmbedding(row, model);
    }
    // Which files the database names, for the orphan scan.
    const named = new Set<string>(rows.map((r) => r.vector_path));
    for (const head of heads) {
      named.add(head.centroid_path);
      named.add(head.answer_emb_path);
    }
    for (const p of projections) {
      const model = modelsById.get(p.model_id);
      const folder = model ? v.modelFolder(model) : null;
      if (model && folder !== null) named.add(projectionMetaPath(model.name, p.mh_projection_id));
      if (p.adapter_path !== null) named.add(p.adapter_path);
    }
    await v.scanFolders(folders, named);
  }

  v.problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { problems: v.problems, checked: { files: v.files, projections: projections.length } };
}

class Verifier {
  readonly problems: VerifyProblem[] = [];
  files = 0;
  readonly dbPath: string;
  private readonly badModels = new Set<number>();
  private liveWriters: FileClaims | undefined;

  constructor(private readonly ctx: StoreContext) {
    // A SQLite file lives in the store root and is named as its files are; a PostgreSQL database
    // is not a file, and a path made relative to the root from its URL would name nothing.
    this.dbPath = ctx.backend === "postgres" ? ctx.path : toPosix(relative(ctx.root, ctx.path));
  }

  report(path: string, problem: string): void {
    this.problems.push({ path, problem });
  }

  /** `embeddings/<folder>` of a model, or `null` (reported once) when its name has none. */
  modelFolder(model: Model): string | null {
    try {
      return modelEmbeddingsDir(model.name);
    } catch (error) {
      if (!this.badModels.has(model.model_id)) {
        this.badModels.add(model.model_id);
        this.report(this.dbPath, `model ${model.model_id}: ${(error as Error).message}`);
      }
      return null;
    }
  }

  checkEmbedding(
    row: { embedding_id: number; entity_type: string; entity_id: number; vector_path: string },
    model: Model,
  ): void {
    const path = row.vector_path;
    const what = `embeddings row ${row.embedding_id} (${row.entity_type} ${row.entity_id}, model ${model.name})`;
    if (!this.checkStoredPath(path, what)) return;
    if (
      (row.entity_type === "question" || row.entity_type === "answer") &&
      this.modelFolder(model) !== null
    ) {
      const canonical = entityVectorPath(model.name, row.entity_type, row.entity_id);
      if (path !== canonical) {
        this.report(path, `${what} names this file; the canonical name is ${canonical}`);
      }
    }
    this.checkVector(path, model.dimensions, what);
  }

  checkProjection(
    row: StoredProjectionRow,
    model: Model,
    heads: Array<{
      cluster_id: number;
      centroid_path: string;
      answer_emb_path: string;
    }>,
  ): void {
    if (this.modelFolder(model) === null) return;
    const mhId = row.mh_projection_id;
    const numHeads = row.num_heads;
    const what = `projection ${mhId}`;
    if (heads.length !== numHeads) {
      this.report(
        this.dbPath,
        `${what}: num_heads is ${numHeads} but cluster_heads has ${heads.length} rows`,
      );
    }
    const meta = this.checkMeta(row, model, heads);
    this.checkAdapter(row, model, meta);
    for (const head of heads) {
      const canonical = {
        centroid: headCentroidPath(model.name, mhId, head.cluster_id),
        answer: headAnswerPath(model.name, mhId, head.cluster_id),
      };
      for (const [role, path] of [
        ["centroid", head.centroid_path],
        ["answer", head.answer_emb_path],
      ] as const) {
        const headWhat = `${role} of cluster ${head.cluster_id} in ${what}`;
        if (!this.checkStoredPath(path, `cluster_heads: ${headWhat}`)) continue;
        if (path !== canonical[role]) {
          this.report(
            path,
            `cluster_heads names this file as the ${headWhat}; the canonical name is ${canonical[role]}`,
          );
        }
        this.checkHeadVector(path, model.dimensions, headWhat);
      }
    }
    this.checkProjectionNumbers(row);
  }

  /**
   * A head vector must also have a direction: search normalizes it and refuses an all-zero one,
   * so a zero head would make the projection unusable although every value is finite.
   */
  private checkHeadVector(path: string, dimensions: number, what: string): void {
    const data = this.checkVector(path, dimensions, what);
    if (data?.every((x) => x === 0)) {
      this.report(path, `all ${data.length} values are 0: the vector has no direction (${what})`);
    }
  }

  /**
   * The numbers of the projection row search and reports rely on: 1/τ must fit float32 (search
   * refuses the projection otherwise), and recorded metrics must be numbers from 0 to 1.
   */
  private checkProjectionNumbers(row: StoredProjectionRow): void {
    const what = `projection ${row.mh_projection_id}`;
    if (!(row.temperature > 0 && Number.isFinite(Math.fround(1 / row.temperature)))) {
      this.report(
        this.dbPath,
        `${what}: temperature ${row.temperature} is unusable (1/τ must be a finite float32); search refuses this projection`,
      );
    }
    for (const [name, value] of [
      ["recall_at_1", row.recall_at_1],
      ["mrr", row.mrr],
    ] as const) {
      if (value !== undefined && value !== null && !(value >= 0 && value <= 1)) {
        this.report(this.dbPath, `${what}: ${name} is ${value}, not a number from 0 to 1`);
      }
    }
  }

  /**
   * The query adapter: the row's `adapter_path` and the json's `adapter` must name the same file
   * (or both none), the canonical `mh_<id>_W.npy`, and that file must be a sound (d, d) matrix.
   * `meta` is the json when it was valid.
   */
  private checkAdapter(row: StoredProjectionRow, model: Model, meta: ProjectionMeta | null): void {
    const mhId = row.mh_projection_id;
    const canonical = projectionAdapterPath(model.name, mhId);
    const what = `query adapter of projection ${mhId}`;
    const metaPath = projectionMetaPath(model.name, mhId);
    const inJson = meta === null ? undefined : (meta.adapter ?? null);
    if (inJson !== undefined && (inJson === null) !== (row.adapter_path === null)) {
      this.report(
        metaPath,
        inJson === null
          ? `adapter is ${JSON.stringify(meta?.adapter ?? null)} but multi_head_projections.adapter_path says ${JSON.stringify(row.adapter_path)}`
          : `adapter is ${JSON.stringify(inJson)} but multi_head_projections.adapter_path is NULL (no adapter)`,
      );
    }
    let path: string;
    if (row.adapter_path !== null) {
      if (!this.checkStoredPath(row.adapter_path, `multi_head_projections: ${what}`)) return;
      if (row.adapter_path !== canonical) {
        this.report(
          row.adapter_path,
          `multi_head_projections names this file as the ${what}; the canonical name is ${canonical}`,
        );
      }
      path = row.adapter_path;
    } else if (inJson !== undefined && inJson !== null) {
      path = canonical;
    } else {
      return;
    }
    this.checkMatrix(path, model.dimensions, what);
  }

  /** Checks `mh_<id>.json` against the rows; returns it when it is a valid file, else `null`. */
  private checkMeta(
    row: StoredProjectionRow,
    model: Model,
    heads: Array<{ cluster_id: number }>,
  ): ProjectionMeta | null {
    const mhId = row.mh_projection_id;
    const { temperature, num_heads: numHeads } = row;
    const path = projectionMetaPath(model.name, mhId);
    const absolute = this.ctx.vectors.absolute(path);
    if (!existsSync(absolute)) {
      this.report(path, `missing: projection ${mhId} has no metadata file`);
      return null;
    }
    this.files++;
    // Read as a regular file only: a FIFO in its place must not hang verify.
    const read = readRegularFile(absolute);
    if ("reason" in read) {
      this.report(path, read.reason);
      return null;
    }
    let json: unknown;
    try {
      json = JSON.parse(read.bytes.toString("utf8"));
    } catch (error) {
      this.report(path, `not valid JSON: ${(error as Error).message}`);
      return null;
    }
    const problems = projectionMetaProblems(json);
    if (problems.length > 0) {
      this.report(
        path,
        `not the ${PROJECTION_META_FORMATS.join(" or ")} format: ${problems.join("; ")}`,
      );
      return null;
    }
    const meta = json as ProjectionMeta;
    const disagree = (field: string, inFile: unknown, inDb: unknown, where: string) =>
      this.report(
        path,
        `${field} is ${JSON.stringify(inFile)} but ${where} says ${JSON.stringify(inDb)}`,
      );
    if (meta.mh_projection_id !== mhId) {
      disagree("mh_projection_id", meta.mh_projection_id, mhId, "the file name");
    }
    if (meta.model !== model.name) disagree("model", meta.model, model.name, "the database");
    if (meta.dimensions !== model.dimensions) {
      disagree("dimensions", meta.dimensions, model.dimensions, "the model's row");
    }
    if (meta.temperature !== temperature) {
      disagree("temperature", meta.temperature, temperature, "multi_head_projections");
    }
    if (meta.num_heads !== numHeads) {
      disagree("num_heads", meta.num_heads, numHeads, "multi_head_projections");
    }
    const inFile = meta.cluster_ids;
    const inDb = heads.map((h) => h.cluster_id);
    // the format has no cluster twice in cluster_ids, so the sets are the lists
    const fileSet = new Set(inFile);
    const dbSet = new Set(inDb);
    const onlyFile = [...fileSet].filter((id) => !dbSet.has(id));
    const onlyDb = [...dbSet].filter((id) => !fileSet.has(id));
    if (onlyFile.length > 0 || onlyDb.length > 0) {
      const parts: string[] = [];
      if (onlyFile.length > 0) parts.push(`lists ${listIds(onlyFile)} that cluster_heads has not`);
      if (onlyDb.length > 0) parts.push(`lacks ${listIds(onlyDb)} of cluster_heads`);
      this.report(path, `cluster_ids disagree with the database: ${parts.join("; ")}`);
    }
    // Absent or NULL both mean β = 1 (docs/FORMAT.md §4, §5).
    const blendInFile = meta.blend ?? 1;
    const blendInDb = row.blend ?? 1;
    if (blendInFile !== blendInDb) {
      disagree("blend", blendInFile, blendInDb, "multi_head_projections");
    }
    return meta;
  }

  /** A complete `(d, d)` `<f4`/`<f8` matrix with finite values. */
  private checkMatrix(path: string, d: number, what: string): void {
    this.checkNpy(path, [d, d], what);
  }

  /** A path stored in the database must be a relative POSIX path inside the store. */
  private checkStoredPath(path: string, what: string): boolean {
    if (
      path.length === 0 ||
      path.startsWith("/") ||
      path.includes("\\") ||
      /^[A-Za-z]:/.test(path) ||
      path.split("/").some((part) => part === ".." || part === "." || part === "")
    ) {
      this.report(
        path || this.dbPath,
        `${what}: ${JSON.stringify(path)} is not a relative POSIX path inside the store`,
      );
      return false;
    }
    return true;
  }

  /** A complete `(d,)` `<f4`/`<f8` vector with finite values: its values, or null when reported. */
  private checkVector(
    path: string,
    dimensions: number,
    what: string,
  ): Float32Array | Float64Array | null {
    return this.checkNpy(path, [dimensions], what);
  }

  /** A complete `<f4`/`<f8` array of this shape with finite values: its values, or null when reported. */
  private checkNpy(
    path: string,
    expectedShape: number[],
    what: string,
  ): Float32Array | Float64Array | null {
    const showShape = (shape: readonly number[]) =>
      `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
    const count = expectedShape.reduce((a, b) => a * b, 1);
    const absolute = this.ctx.vectors.absolute(path);
    let size: number;
    try {
      const stat = statSync(absolute);
      if (!stat.isFile()) {
        this.report(path, `not a file (${what})`);
        return null;
      }
      size = stat.size;
    } catch {
      this.report(path, `missing (${what})`);
      return null;
    }
    this.files++;
    try {
      const header = readNpyHeaderSync(absolute);
      const problems: string[] = [];
      if (header.dtype !== "<f4" && header.dtype !== "<f8") {
        problems.push(`dtype ${header.dtype}, expected '<f4' (or '<f8')`);
      }
      if (
        header.shape.length !== expectedShape.length ||
        header.shape.some((n, i) => n !== expectedShape[i])
      ) {
        problems.push(`shape ${showShape(header.shape)}, expected ${showShape(expectedShape)}`);
      }
      if (problems.length > 0) {
        this.report(path, `${problems.join("; ")} (${what})`);
        return null;
      }
      const expectedSize = header.dataOffset + count * (header.dtype === "<f4" ? 4 : 8);
      if (size !== expectedSize) {
        this.report(
          path,
          `${size < expectedSize ? "truncated" : "too long"}: ${size} bytes, a ${showShape(expectedShape)} ${header.dtype} file has ${expectedSize} (${what})`,
        );
        return null;
      }
      const { data } = readNpySync(absolute);
      for (let i = 0; i < data.length; i++) {
        const x = data[i] as number;
        if (!Number.isFinite(x)) {
          this.report(path, `value ${i} is ${x} (${what})`);
          return null;
        }
      }
      return data as Float32Array | Float64Array;
    } catch (error) {
      const message =
        error instanceof NpyError
          ? `not a valid NPY file (${error.code}): ${error.message}`
          : `cannot be read: ${(error as Error).message}`;
      this.report(path, `${message} (${what})`);
      return null;
    }
  }

  /**
   * Everything under `embeddings/`: folders of no model, files no row names (orphans),
   * temporary files, and names outside the format.
   */
  async scanFolders(folders: Map<string, Model>, named: Set<string>): Promise<void> {
    const base = join(this.ctx.root, "embeddings");
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(base, { withFileTypes: true });
    } catch {
      return; // no vectors yet
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = `embeddings/${entry.name}`;
      if (!entry.isDirectory()) {
        this.report(
          path,
          isTemporaryFileName(entry.name)
            ? "temporary file left by an interrupted write"
            : "not part of the store's format (expected only model folders in embeddings/)",
        );
        continue;
      }
      const model = folders.get(path);
      if (!model) {
        this.report(path, "folder of no model in the database");
        continue;
      }
      await this.scanModelFolder(path, model, named);
    }
  }

  private async scanModelFolder(dir: string, model: Model, named: Set<string>): Promise<void> {
    const names = readdirSync(join(this.ctx.root, ...dir.split("/")), { withFileTypes: true });
    for (const entry of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = `${dir}/${entry.name}`;
      if (named.has(path)) continue;
      if (entry.isDirectory()) {
        this.report(path, `unexpected folder inside the folder of model ${model.name}`);
        continue;
      }
      if (isTemporaryFileName(entry.name)) {
        // a live writer's temporary file becomes a store file at its rename
        if (temporaryFileIsStale(join(this.ctx.root, ...path.split("/")), entry.name)) {
          this.report(path, "temporary file left by an interrupted write");
        }
        continue;
      }
      const parsed = parseEmbeddingFileName(entry.name);
      if (parsed === null) {
        this.report(path, "not a file name of the store's format");
        continue;
      }
      // A live process writes a batch's or a projection's files before the rows that name them
      // commit (docs/ARCHITECTURE.md §3.1): those are not orphans yet.
      this.liveWriters ??= await FileClaims.load(this.ctx, this.ctx.kysely, true);
      if (await this.liveWriters.claimed(path)) continue;
      switch (parsed.kind) {
        case "question":
          this.report(
            path,
            `orphan: no embeddings row names this file (question ${parsed.questionId})`,
          );
          break;
        case "answer":
          this.report(
            path,
            `orphan: no embeddings row names this file (answer of cluster ${parsed.clusterId})`,
          );
          break;
        case "head-centroid":
        case "head-answer":
          this.report(
            path,
            `orphan: no cluster_heads row names this file (projection ${parsed.mhProjectionId}, cluster ${parsed.clusterId})`,
          );
          break;
        case "projection-meta":
          this.report(
            path,
            `orphan: the database has no projection ${parsed.mhProjectionId} of model ${model.name}`,
          );
          break;
        case "projection-adapter":
          this.report(
            path,
            `orphan: no multi_head_projections row names this file as its adapter (projection ${parsed.mhProjectionId} of model ${model.name})`,
          );
          break;
      }
    }
  }
}

/** The columns of a `multi_head_projections` row that verify compares with the files. */
interface StoredProjectionRow {
  mh_projection_id: number;
  temperature: number;
  num_heads: number;
  adapter_path: string | null;
  blend: number | null;
  recall_at_1?: number | null;
  mrr?: number | null;
}

function listIds(ids: number[]): string {
  const shown = ids.slice(0, 10).join(", ");
  return `cluster${ids.length === 1 ? "" : "s"} ${shown}${ids.length > 10 ? `, … (${ids.length})` : ""}`;
}

function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}
