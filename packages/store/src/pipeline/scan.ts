import { createHash } from "node:crypto";
import { type Dirent, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { StoreContext } from "../context.js";
import { StoreError } from "../errors.js";
import { sweep } from "../lifecycle.js";
import { appendHistory } from "./batches.js";
import { type PipelineTimings, timed } from "./timings.js";

export type ScanChange = "new" | "modified" | "unchanged";

export interface ScannedFile {
  path: string;
  hash: string;
  change: ScanChange;
  /** The pending batch created for a new or modified file; the latest batch of an unchanged one. */
  batchId: number;
}

export interface ScanResult {
  new: ScannedFile[];
  modified: ScannedFile[];
  unchanged: ScannedFile[];
}

export interface ScanOptions {
  /** Also scan subfolders. */
  recursive?: boolean;
  /** When given, time spent per kind of work is added to it. */
  timings?: PipelineTimings;
}

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Every `*.json` file in `dir` (and below it when recursive), sorted, as absolute paths. */
function listJsonFiles(dir: string, recursive: boolean): string[] {
  const root = resolve(dir);
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true, recursive });
  } catch (cause) {
    throw new StoreError("INPUT_UNREADABLE", `cannot scan ${root}: ${(cause as Error).message}`, {
      cause,
    });
  }
  return entries
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith(".json"))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

/**
 * The scan of docs/ARCHITECTURE.md: new and modified files get a pending batch; unchanged files
 * are left alone.
 */
export function scan(ctx: StoreContext, dir: string, options: ScanOptions = {}): ScanResult {
  const result: ScanResult = { new: [], modified: [], unchanged: [] };
  const { timings } = options;
  const files = listJsonFiles(dir, options.recursive ?? false);
  // What an interrupted command left goes first (docs/ARCHITECTURE.md §3.1).
  sweep(ctx);
  for (const path of files) {
    const hash = timed(timings, "hashing", () => sha256(readFileSync(path)));
    timed(timings, "sqlite", () =>
      ctx.sql.immediate("scan", () => {
        const latest = ctx.sql.first(
          ctx.kysely
            .selectFrom("training_batches")
            .select(["batch_id", "file_hash"])
            .where("file_path", "=", path)
            .orderBy("batch_id", "desc")
            .limit(1),
        );
        if (latest && latest.file_hash === hash) {
          result.unchanged.push({ path, hash, change: "unchanged", batchId: latest.batch_id });
          return;
        }
        const change: ScanChange = latest ? "modified" : "new";
        const stamp = ctx.now();
        const { lastInsertRowid: batchId } = ctx.sql.run(
          ctx.kysely.insertInto("training_batches").values({
            file_path: path,
            file_hash: hash,
            status: "pending",
            created_at: stamp,
            updated_at: stamp,
          }),
        );
        appendHistory(ctx, batchId, null, "pending", change);
        result[change].push({ path, hash, change, batchId });
      }),
    );
  }
  return result;
}
