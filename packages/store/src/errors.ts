/** Stable error codes of {@link StoreError}; each names one way a store or a call to it can be wrong. */
export type StoreErrorCode =
  /** The database could not be opened or migrated for a reason none of the codes below names (unreadable, a failing migration). */
  | "OPEN_FAILED"
  /** Mode `read` or `write`, and there is no database file at the path: only mode `create` makes one. */
  | "STORE_NOT_FOUND"
  /** The path holds no ldakit store: a folder, a file that is not SQLite, an empty database (outside mode `create`), or someone else's SQLite database (left untouched). */
  | "NOT_A_STORE"
  /** The store has a migration this ldakit does not know: a newer ldakit wrote it. */
  | "SCHEMA_TOO_NEW"
  /** Mode `read` and the store's schema is older than this ldakit's: a reader never migrates, `ldakit migrate` does. */
  | "SCHEMA_TOO_OLD"
  /** Mode `write`/`create` on a database this user cannot write, or mode `read` on a WAL database whose folder this user cannot write and that has no `-wal` file. */
  | "READ_ONLY"
  /** Another connection held the write lock longer than the busy timeout. */
  | "LOCKED"
  /** A method was called after `close()`. */
  | "CLOSED"
  /** An argument out of range: `chunkSize`, `leaseMs`, `writerThreads`, an id that is not an integer, … */
  | "BAD_ARGUMENT"
  /** A vector's length, or an embedder's dimensions, differ from the model's recorded dimensions. */
  | "DIMENSION_MISMATCH"
  /** A model name that cannot become a folder name under `embeddings/`. */
  | "BAD_MODEL_NAME"
  /** A model name whose folder another model of the store already has (`org/m` and `org__m`). */
  | "MODEL_FOLDER_TAKEN"
  /** No model of that name or id in the store (e.g. training a model nothing was embedded with). */
  | "MODEL_NOT_FOUND"
  /** No cluster of that id in the store. */
  | "CLUSTER_NOT_FOUND"
  /** No projection of that id in the store. */
  | "PROJECTION_NOT_FOUND"
  /** A vector file the database names does not exist. */
  | "VECTOR_FILE_MISSING"
  /** A vector file is not a readable `(d,)` float32/float64 `.npy` vector of the model's dimensions. */
  | "BAD_VECTOR_FILE"
  /**
   * A vector file or `mh_<id>.json` could not be written or its folder synced (permissions, a full
   * disk, … — the path is named), or a failed batch could not even be recorded as failed.
   */
  | "WRITE_FAILED"
  /** The folder given to `scan` does not exist or cannot be listed. */
  | "INPUT_UNREADABLE"
  /** A batch was not in the status this process expected: another process changed it meanwhile. */
  | "BATCH_CONFLICT"
  /** A transaction began, or a statement ran on the store's own handle, inside another transaction of the same store: a programming error (it would wait for itself). */
  | "NESTED_TRANSACTION"
  /** The PostgreSQL server could not be reached or refused the login (the URL is named without its password). */
  | "CONNECTION_FAILED"
  /** The connection to the PostgreSQL server broke during a step: the step's transaction rolled back, and a batch it held goes to another worker when its lease lapses. */
  | "CONNECTION_LOST"
  /** A PostgreSQL store opened for the first time without a store root (`storeRoot`, `--store-root`). */
  | "STORE_ROOT_REQUIRED"
  /** The store root given differs from the one the store records (every worker must use the same). */
  | "STORE_ROOT_MISMATCH"
  /** The store root the store records is not a folder on this machine (is the shared storage mounted?). */
  | "STORE_ROOT_MISSING"
  /** A projection's writer held its reserved id past the lease without renewing it, and another process's sweep released the id: nothing of the projection was stored. */
  | "LEASE_LOST";

/**
 * Every failure the store itself detects is a `StoreError`: switch on `code`, show `message`.
 * Errors of SQLite (better-sqlite3's `SqliteError`, with its `SQLITE_*` code) and of
 * `@ldakit/search` (`SearchError`, e.g. a query vector of the wrong length) pass through as they are.
 */
export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
    this.code = code;
  }
}
