/** How many fuzz inputs a fuzzer tries: LDAKIT_FUZZ_RUNS when set, else `ciCount`. */
export declare function fuzzRuns(ciCount: number): number;

export interface CrashFigures {
  /** Distinct crash points (point name and occurrence) the scenario was killed at. */
  pointsWalked: number;
  /** Processes killed (at least one per point walked). */
  kills: number;
  /** Rows of a run without a crash that were missing after the rerun. */
  rowsLost: number;
  /** Rows present more often than after a run without a crash. */
  rowsDuplicated: number;
  /** Files under the store root that no row names, after the rerun. */
  orphanFiles: number;
  /** Reruns whose `verify` was not clean. */
  verifyFailures: number;
}

export interface FuzzFigures {
  /** Inputs tried. */
  tried: number;
  /** Inputs read as a value that matched the bytes. */
  values: number;
  /** Inputs refused with the package's own error type and a message. */
  cleanErrors: number;
  /** Inputs that threw anything else, or gave a wrong value. */
  otherErrors: number;
  /** Inputs that did not finish within the fuzzer's time limit. */
  hangs: number;
}

export interface ConcurrencyFigures {
  /** Processes run on the one store (writers, readers and the commands run after them). */
  processes: number;
  /** Rows of a single-process run on the same input that were missing afterwards. */
  rowsLost: number;
  /** Rows present more often than after a single-process run. */
  rowsDuplicated: number;
  /** Files under the store root that no row names, and temporary files, afterwards. */
  orphanFiles: number;
  /** Commands that exited non-zero or printed a wrong result. */
  failedCommands: number;
}

/** One crash scenario's row (recorded only when LDAKIT_FAULT_REPORT_DIR is set). */
export declare function recordCrashFigures(scenario: string, figures: CrashFigures): void;

/** One fuzz target's row (recorded only when LDAKIT_FAULT_REPORT_DIR is set). */
export declare function recordFuzzFigures(target: string, figures: FuzzFigures): void;

/** One concurrency run's row (recorded only when LDAKIT_FAULT_REPORT_DIR is set). */
export declare function recordConcurrencyFigures(run: string, figures: ConcurrencyFigures): void;
