/**
 * Pipeline workers in separate processes (test/workers/process.mjs, which runs the built package:
 * build it before these tests), and what the tests compare their stores by.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import type { LDAProjectionDB } from "../src/index.js";
import type { TestStore } from "./backends.js";
import { formA, tempDir, writeFiles } from "./helpers.js";

const WORKER = join(import.meta.dirname, "workers", "process.mjs");

export interface WorkerEvent {
  event: "progress" | "result" | "error";
  batchId?: number;
  phase?: string;
  done?: number;
  completed?: number[];
  failed?: number[];
  code?: string;
  message?: string;
}

export interface WorkerOptions {
  /** Milliseconds each embed call waits, so a test can act while a batch is in progress. */
  delayMs: number;
  chunkSize: number;
  leaseMs?: number;
  /** Extra environment (e.g. `LDAKIT_MACHINE_ID`, to look like a worker of another machine). */
  env?: Record<string, string>;
}

export interface Worker {
  child: ChildProcess;
  events: WorkerEvent[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  waitFor(predicate: (e: WorkerEvent) => boolean): Promise<WorkerEvent>;
}

/** Starts `ldakit process-pending`'s work on `store` in a process of its own. */
export function startWorker(store: TestStore, options: WorkerOptions): Worker {
  const args = [
    WORKER,
    store.location,
    String(options.delayMs),
    String(options.chunkSize),
    store.backend === "postgres" ? store.root : "-",
    ...(options.leaseMs === undefined ? [] : [String(options.leaseMs)]),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  const events: WorkerEvent[] = [];
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const listeners: Array<(e: WorkerEvent) => void> = [];
  lines.on("line", (line) => {
    const event = JSON.parse(line) as WorkerEvent;
    events.push(event);
    for (const l of listeners) l(event);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    events,
    exited,
    stderr: () => stderr,
    waitFor: (predicate) =>
      new Promise<WorkerEvent>((resolve, reject) => {
        const seen = events.find(predicate);
        if (seen) return resolve(seen);
        listeners.push((e) => predicate(e) && resolve(e));
        child.on("exit", () =>
          reject(new Error(`worker exited before the awaited event; stderr: ${stderr}`)),
        );
      }),
  };
}

/** `files` input files of `clusters` clusters with `questions` questions each, in a new folder. */
export function inputFolder(files: number, clusters: number, questions: number): string {
  const input = join(tempDir(), "raw");
  writeFiles(
    input,
    Object.fromEntries(
      Array.from({ length: files }, (_, i) => [
        `f${String(i).padStart(2, "0")}.json`,
        formA(clusters, questions, `f${i}`),
      ]),
    ),
  );
  return input;
}

/**
 * What a store holds, independent of the order its batches were processed in (which decides its
 * ids): every vector row as its input file, kind, text and the SHA-256 of its file's bytes,
 * sorted. Two stores built from the same files by the same embedder give equal lists.
 */
export async function contentOf(db: LDAProjectionDB): Promise<string[]> {
  const questions = await db.kysely
    .selectFrom("embeddings")
    .innerJoin("questions", "questions.question_id", "embeddings.entity_id")
    .innerJoin("clusters", "clusters.cluster_id", "questions.cluster_id")
    .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
    .where("embeddings.entity_type", "=", "question")
    .select(["training_batches.file_path", "questions.question_text as text", "vector_path"])
    .execute();
  const answers = await db.kysely
    .selectFrom("embeddings")
    .innerJoin("clusters", "clusters.cluster_id", "embeddings.entity_id")
    .innerJoin("training_batches", "training_batches.batch_id", "clusters.batch_id")
    .where("embeddings.entity_type", "=", "answer")
    .select(["training_batches.file_path", "clusters.answer_text as text", "vector_path"])
    .execute();
  const digest = (path: string) =>
    createHash("sha256")
      .update(readFileSync(join(db.root, path)))
      .digest("hex");
  return [
    ...questions.map((r) => `${basename(r.file_path)} question ${r.text} ${digest(r.vector_path)}`),
    ...answers.map((r) => `${basename(r.file_path)} answer ${r.text} ${digest(r.vector_path)}`),
  ].sort();
}

/** The statuses a batch went through, in order. */
export async function statusesOf(db: LDAProjectionDB, batchId: number): Promise<string[]> {
  return (await db.batchHistory(batchId)).map((h) => h.new_status);
}
