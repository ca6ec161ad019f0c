// Databases and roles on a PostgreSQL server for tests: each test gets a fresh empty database of
// its own (tens of milliseconds, against a second and more for a server), and a test of read-only
// access gets a login role that can only read. Uses node-postgres (`pg`), which the package whose
// tests call this must have as a devDependency.
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";

let created = 0;

/**
 * Creates a new, empty database `ldakit_<n>_<random>` on the server of `adminUrl` (a URL whose
 * user may create databases) and returns its URL: `adminUrl` with the new database's name as path.
 * With `template`, the database is a copy of that one (PostgreSQL's `CREATE DATABASE … TEMPLATE`,
 * which needs the template to have no other session open).
 *
 * @param {string} adminUrl
 * @param {{ template?: string }} [options]
 * @returns {Promise<string>}
 */
export async function createDatabase(adminUrl, options = {}) {
  created += 1;
  const name = `ldakit_${created}_${randomBytes(4).toString("hex")}`;
  await withClient(adminUrl, "createDatabase", async (client) => {
    const template =
      options.template === undefined
        ? ""
        : ` TEMPLATE ${client.escapeIdentifier(options.template)}`;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${template}`);
  });
  return databaseUrl(adminUrl, name);
}

/**
 * Drops the database `url` names, ending its open sessions first (`WITH (FORCE)`: a test's pool
 * that was never closed must not keep it alive). Connects as `url`'s user to the server's
 * `postgres` database. Nothing when it does not exist.
 *
 * @param {string} url
 * @returns {Promise<void>}
 */
export async function dropDatabase(url) {
  const name = databaseName(url, "dropDatabase");
  if (name === "postgres") {
    throw new Error(
      `dropDatabase: ${redact(url)} names the server's maintenance database "postgres", which this never drops`,
    );
  }
  await withClient(databaseUrl(url, "postgres"), "dropDatabase", async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  });
}

/**
 * Creates a login role `ldakit_reader_<n>_<random>` with a random password that may connect to
 * the database of `url`, use its schema `public` and SELECT from its tables and views — those
 * there now and those `url`'s user creates there later — and nothing else: no INSERT, UPDATE,
 * DELETE, TRUNCATE, DDL, no other database's tables. Returns the URL that logs in as it to the
 * same database. `url`'s user must be allowed to create roles and to grant on those tables (the
 * test server's `postgres` superuser is). What PostgreSQL grants to every role (PUBLIC: temporary
 * tables, running functions) it has as well.
 *
 * @param {string} url
 * @returns {Promise<string>}
 */
export async function createReadOnlyRole(url) {
  created += 1;
  const role = `ldakit_reader_${created}_${randomBytes(4).toString("hex")}`;
  const password = randomBytes(18).toString("hex");
  const database = databaseName(url, "createReadOnlyRole");
  await withClient(url, "createReadOnlyRole", async (client) => {
    const r = client.escapeIdentifier(role);
    // One transaction: a failed grant must not leave a role with half its rights behind.
    await client.query("BEGIN");
    try {
      await client.query(
        `CREATE ROLE ${r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${client.escapeLiteral(password)}`,
      );
      await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(database)} TO ${r}`);
      await client.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
      await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${r}`);
      await client.query(
        `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${r}`,
      );
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    }
  });
  const reader = new URL(url);
  reader.username = role;
  reader.password = password;
  return reader.href;
}

/** `url` with its password hidden, for messages. */
function redact(url) {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.href;
  } catch {
    return "(a URL that does not parse)";
  }
}

function databaseName(url, caller) {
  let name;
  try {
    name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  } catch {
    throw new Error(`${caller}: ${redact(url)} is not a postgres:// URL`);
  }
  if (name === "") throw new Error(`${caller}: ${redact(url)} names no database`);
  return name;
}

function databaseUrl(url, name) {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.href;
}

async function withClient(url, caller, use) {
  const { Client } = loadPg();
  const client = new Client({ connectionString: url });
  try {
    await client.connect();
    return await use(client);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const code = error && typeof error === "object" && "code" in error ? ` (${error.code})` : "";
    throw Object.assign(
      new Error(`${caller} on ${redact(url)}: ${reason}${code}`, { cause: error }),
      {
        code: error?.code,
      },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** `pg` as the calling package has it: tools/ has no node_modules of its own. */
function loadPg() {
  const require = createRequire(join(process.cwd(), "package.json"));
  try {
    return require("pg");
  } catch {
    throw new Error(
      `postgres-databases: pg (node-postgres) is not installed for ${process.cwd()}; add it as a devDependency of that package and run pnpm install`,
    );
  }
}
