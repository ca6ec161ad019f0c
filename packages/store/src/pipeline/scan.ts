import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  type Dirent,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  type Stats,
  statSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { StoreContext } from "../context.js";
import { StoreError } from "../errors.js";
import { sweep } from "../lifecycle.js";
import { appendHistory } from "./batches.js";
import { type PipelineTimings, timed, timedAsync } from "./timings.js";

export type ScanChange = "new" | "modified" | "unchanged";

export interface ScannedFile {
  path: string;
  hash: string;
  change: ScanChange;
  /** The pending batch created for a new or modified file; the latest batch of an unchanged one. */
  batchId: number;
}

/** An input the scan did not queue, and why. */
export interface SkippedInput {
  /** Absolute path of the file, link or folder. */
  path: string;
  /** Why, for a person: "permission denied (EACCES)", "a FIFO, not a regular file", … */
  reason: string;
  /**
   * True when the input could not be read as it should have been (unreadable, a special file, a
   * broken link); false for a choice the scan makes (a symbolic link to a folder is not followed).
   */
  error: boolean;
}

export interface ScanResult {
  new: ScannedFile[];
  modified: ScannedFile[];
  unchanged: ScannedFile[];
  /** Inputs not queued, by path; the scan goes on past each one. */
  skipped: SkippedInput[];
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

/** What kind of non-regular file an entry is, for a message. */
function fileKind(entry: Dirent | Stats): string {
  if (entry.isDirectory()) return "a folder";
  if (entry.isFIFO()) return "a FIFO (named pipe)";
  if (entry.isSocket()) return "a socket";
  if (entry.isCharacterDevice()) return "a character device";
  if (entry.isBlockDevice()) return "a block device";
  if (entry.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

function errnoReason(cause: unknown): string {
  const { code, message } = cause as NodeJS.ErrnoException;
  if (code === "EACCES" || code === "EPERM") return `permission denied (${code})`;
  if (code === "ELOOP") return "a loop of symbolic links (ELOOP)";
  return message;
}

/**
 * Every `*.json` input under `root` that is or links to a regular file, sorted, as absolute paths;
 * every other input is recorded in `skipped`. Symbolic links to files are followed (a link is
 * queued under its own path); links to folders are not, so a link loop cannot trap the scan.
 */
function listJsonFiles(root: string, recursive: boolean, skipped: SkippedInput[]): string[] {
  const files: string[] = [];
  const visit = (dir: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (cause) {
      if (dir === root) {
        throw new StoreError(
          "INPUT_UNREADABLE",
          `cannot scan ${root}: ${(cause as Error).message}`,
          {
            cause,
          },
        );
      }
      skipped.push({
        path: dir,
        reason: `cannot list this folder: ${errnoReason(cause)}`,
        error: true,
      });
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const json = entry.name.toLowerCase().endsWith(".json");
      if (entry.isDirectory()) {
        if (recursive) visit(path);
      } else if (entry.isSymbolicLink()) {
        let target: Stats;
        try {
          target = statSync(path);
        } catch (cause) {
          if (json) {
            const reason =
              (cause as NodeJS.ErrnoException).code === "ENOENT"
                ? "a broken symbolic link (what it points to does not exist)"
                : `a symbolic link that cannot be followed: ${errnoReason(cause)}`;
            skipped.push({ path, reason, error: true });
          }
          continue;
        }
        if (target.isDirectory()) {
          if (recursive) {
            skipped.push({
              path,
              reason: "a symbolic link to a folder, not followed (scan that folder itself)",
              error: false,
            });
          }
        } else if (json) {
          if (target.isFile()) files.push(path);
          else {
            skipped.push({
              path,
              reason: `a symbolic link to ${fileKind(target)}, not to a regular file`,
              error: true,
            });
          }
        }
      } else if (json) {
        if (entry.isFile()) files.push(path);
        else skipped.push({ path, reason: `${fileKind(entry)}, not a regular file`, error: true });
      }
    }
  };
  visit(root);
  return files.sort();
}

/**
 * The bytes of a regular file, or why they cannot be read. The file is opened without blocking
 * and checked through its descriptor, so a FIFO swapped in after the listing cannot hang the scan.
 */
export function readRegularFile(
  path: string,
): { bytes: Buffer } | { reason: string; code?: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    return {
      reason: `cannot open: ${errnoReason(cause)}`,
      code: (cause as NodeJS.ErrnoException).code,
    };
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return { reason: `${fileKind(stats)}, not a regular file` };
    return { bytes: readFileSync(fd) };
  } catch (cause) {
    return { reason: `cannot read: ${errnoReason(cause)}` };
  } finally {
    closeSync(fd);
  }
}

/**
 * The scan of docs/ARCHITECTURE.md §2.1: new and modified files get a pending batch; unchanged
 * files are left alone; inputs that cannot be read as regular files are listed in `skipped`, and
 * the scan goes on with the rest.
 */
export async function scan(
  ctx: StoreContext,
  dir: string,
  options: ScanOptions = {},
): Promise<ScanResult> {
  const result: ScanResult = { new: [], modified: [], unchanged: [], skipped: [] };
  const { timings } = options;
  const files = listJsonFiles(resolve(dir), options.recursive ?? false, result.skipped);
  // What an interrupted command left goes first (docs/ARCHITECTURE.md §3.1).
  await sweep(ctx);
  for (const path of files) {
    const read = readRegularFile(path);
    if ("reason" in read) {
      result.skipped.push({ path, reason: read.reason, error: true });
      continue;
    }
    const hash = timed(timings, "hashing", () => sha256(read.bytes));
    const scanned = await timedAsync(timings, "sqlite", () =>
      ctx.db.transaction("scan", async (q): Promise<ScannedFile> => {
        // Two scanners of one file must not both queue its new content.
        await ctx.db.lock(q, `file:${path}`);
        const latest = await q
          .selectFrom("training_batches")
          .select(["batch_id", "file_hash"])
          .where("file_path", "=", path)
          .orderBy("batch_id", "desc")
          .limit(1)
          .executeTakeFirst();
        if (latest && latest.file_hash === hash) {
          return { path, hash, change: "unchanged", batchId: latest.batch_id };
        }
        const change: ScanChange = latest ? "modified" : "new";
        const stamp = ctx.now();
        const { batch_id: batchId } = await q
          .insertInto("training_batches")
          .values({
            file_path: path,
            file_hash: hash,
            status: "pending",
            created_at: stamp,
            updated_at: stamp,
          })
          .returning("batch_id")
          .executeTakeFirstOrThrow();
        await appendHistory(ctx, q, batchId, null, "pending", change);
        return { path, hash, change, batchId };
      }),
    );
    result[scanned.change].push(scanned);
  }
  result.skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return result;
}
