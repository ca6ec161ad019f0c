/**
 * Creates a new, empty database `ldakit_<n>_<random>` on the server of `adminUrl` (a URL whose
 * user may create databases) and returns its URL (`adminUrl` with the new name as path). With
 * `template`, the database is a copy of that database, which must have no other session open.
 */
export declare function createDatabase(
  adminUrl: string,
  options?: { template?: string },
): Promise<string>;

/**
 * Drops the database `url` names, ending its open sessions first; nothing when it does not exist.
 * Refuses the maintenance database `postgres`.
 */
export declare function dropDatabase(url: string): Promise<void>;

/**
 * Creates a login role with a random password that may connect to the database of `url`, use its
 * schema `public` and SELECT from its tables and views (present, and those `url`'s user creates
 * later), and nothing else; returns the URL that logs in as it to the same database. Writing as it
 * fails with PostgreSQL error 42501 (insufficient_privilege).
 */
export declare function createReadOnlyRole(url: string): Promise<string>;
