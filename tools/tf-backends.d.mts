/** A TensorFlow.js backend, as TensorFlow.js names it. */
export type TfBackend = "tensorflow" | "wasm" | "cpu";

/** What `getTf({ backend })` of `@ldakit/tf` takes for each backend. */
export declare const TF_BACKENDS: Readonly<Record<TfBackend, "node" | "wasm" | "cpu">>;

export interface TfBackendAvailability {
  readonly name: TfBackend;
  readonly available: boolean;
  /** e.g. `tensorflow (tfjs-node)`, when available. */
  readonly description?: string;
  /** Why it did not load, when not available. */
  readonly reason?: string;
}

/**
 * The backends named by LDAKIT_REQUIRE_TF_BACKENDS (comma or space separated; `node` means
 * `tensorflow`). Throws on an unknown name.
 */
export declare function requiredTfBackends(): TfBackend[];

/** Each backend's availability, probed once per process in a child process. */
export declare function availableTfBackends(names?: TfBackend[]): Promise<TfBackendAvailability[]>;

export interface TfBackendPlanEntry {
  readonly name: TfBackend;
  /** The `backend` option that forces it. */
  readonly request: "node" | "wasm" | "cpu";
  /** Available: run its tests. */
  readonly run: boolean;
  /** Not available although LDAKIT_REQUIRE_TF_BACKENDS names it: a test must fail with `reason`. */
  readonly missing: boolean;
  readonly required: boolean;
  readonly description?: string;
  readonly reason?: string;
}

/** Per backend: run its tests, skip them (printing why), or fail because it is required. */
export declare function tfBackendPlan(names: TfBackend[]): Promise<TfBackendPlanEntry[]>;
