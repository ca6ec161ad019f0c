import type { TestProject } from "vitest/node";

declare module "vitest" {
  interface ProvidedContext {
    /**
     * The admin URL (`postgres://postgres@127.0.0.1:<port>/postgres`) of the PostgreSQL server
     * that tools/postgres-global-setup.mjs started for this test run.
     */
    ldakitPostgresUrl: string;
  }
}

/**
 * vitest `globalSetup`: starts one PostgreSQL server for the run, provides its URL as
 * `ldakitPostgresUrl`, and returns the teardown that stops it and removes its files.
 */
export default function setup(project: TestProject): Promise<() => Promise<void>>;
