/** Milliseconds spent per kind of work, added up across a run (for profiling; see the benchmark). */
export interface PipelineTimings {
  /** SHA-256 of input files (scan, and the re-check before import). */
  hashing: number;
  /** JSON parsing and validation. */
  parsing: number;
  /** SQLite statements and transactions. */
  sqlite: number;
  /** The embedder's `embed` calls. */
  embedding: number;
  /** Writing and removing vector files. */
  files: number;
}

export function emptyTimings(): PipelineTimings {
  return { hashing: 0, parsing: 0, sqlite: 0, embedding: 0, files: 0 };
}

export function timed<T>(
  timings: PipelineTimings | undefined,
  key: keyof PipelineTimings,
  fn: () => T,
): T {
  if (!timings) return fn();
  const start = performance.now();
  try {
    return fn();
  } finally {
    timings[key] += performance.now() - start;
  }
}

export async function timedAsync<T>(
  timings: PipelineTimings | undefined,
  key: keyof PipelineTimings,
  fn: () => Promise<T>,
): Promise<T> {
  if (!timings) return fn();
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[key] += performance.now() - start;
  }
}
