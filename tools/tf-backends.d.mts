export type TfBackend = "tensorflow" | "wasm" | "cpu";

/** The names getTf reports, in its order of preference. */
export declare const TF_BACKENDS: readonly TfBackend[];

export interface TfBackendProbe {
  available: boolean;
  /** When available: getTf's description, e.g. `wasm (SIMD)`. */
  description?: string;
  /** When not: why it did not load. */
  reason?: string;
}

/**
 * For each backend: whether getTf can load it here, with its description, or the reason it
 * cannot. Probed once per process, in a child process (one worker thread per backend there).
 */
export declare function availableTfBackends(): Record<TfBackend, TfBackendProbe>;

/** The backends LDAKIT_REQUIRE_TF_BACKENDS names: for those, unavailability fails a test. */
export declare function requiredTfBackends(): TfBackend[];
