/// <reference path="../../../tools/postgres-global-setup.d.mts" />
// tools/postgres-databases.mjs and tools/postgres-global-setup.mjs, on the run's shared server:
// fresh databases for tests, and a role that can read a store and write nothing.
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  createDatabase,
  createReadOnlyRole,
  dropDatabase,
} from "../../../tools/postgres-databases.mjs";

const made: string[] = [];
afterAll(async () => {
  for (const url of made.splice(0)) await dropDatabase(url);
});

async function newDatabase(options?: { template?: string }): Promise<string> {
  const url = await createDatabase(inject("ldakitPostgresUrl"), options);
  made.push(url);
  return url;
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a statement fails with, or `ok`. */
async function outcome(url: string, text: string): Promise<string> {
  try {
    await query(url, text);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe("the run's PostgreSQL server (postgres-global-setup)", () => {
  it("is provided to test files as an admin URL on loopback", async () => {
    const url = inject("ldakitPostgresUrl");
    expect(url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(await query(url, "SELECT current_user AS who")).toEqual([{ who: "postgres" }]);
  });
});

describe("createDatabase and dropDatabase", () => {
  it("make a fresh, empty database of its own each time, on the same server", async () => {
    const admin = new URL(inject("ldakitPostgresUrl"));
    const a = await newDatabase();
    const b = await newDatabase();
    expect(a).not.toBe(b);
    for (const url of [a, b]) {
      const u = new URL(url);
      expect(u.host).toBe(admin.host);
      expect(u.pathname).toMatch(/^\/ldakit_\d+_[0-9a-f]{8}$/);
      expect(
        await query(
          url,
          "SELECT count(*)::integer AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public'",
        ),
      ).toEqual([{ n: 0 }]);
    }
    await query(a, "CREATE TABLE only_in_a (n integer)");
    expect(await outcome(b, "SELECT * FROM only_in_a")).toBe("42P01");
  });

  it("copy a template database when asked", async () => {
    const template = await newDatabase();
    await query(template, "CREATE TABLE seeded (n integer); INSERT INTO seeded VALUES (42)");
    const copy = await newDatabase({ template: new URL(template).pathname.slice(1) });
    expect(await query(copy, "SELECT n FROM seeded")).toEqual([{ n: 42 }]);
  });

  it("dropDatabase ends open sessions, removes the database, and is quiet when it is gone", async () => {
    const url = await newDatabase();
    const holder = new pg.Client({ connectionString: url });
    holder.on("error", () => {}); // its session is ended by the drop
    await holder.connect();
    await dropDatabase(url);
    expect(await outcome(url, "SELECT 1")).toBe("3D000"); // invalid_catalog_name
    await dropDatabase(url);
    await holder.end().catch(() => {});
  });

  it("refuse the maintenance database and URLs that name no database", async () => {
    await expect(dropDatabase(inject("ldakitPostgresUrl"))).rejects.toThrow(
      /maintenance database "postgres"/,
    );
    const root = new URL(inject("ldakitPostgresUrl"));
    root.pathname = "/";
    await expect(dropDatabase(root.href)).rejects.toThrow(/names no database/);
    await expect(createDatabase("postgres://postgres@127.0.0.1:1/postgres")).rejects.toThrow(
      /createDatabase on postgres:\/\/postgres@127\.0\.0\.1:1\/postgres: .*ECONNREFUSED/,
    );
  });
});

describe("createReadOnlyRole", () => {
  it("logs in as a role that reads every table and view, now and later, and writes nothing", async () => {
    const url = await newDatabase();
    await query(
      url,
      "CREATE TABLE notes (id integer PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'keep me'); CREATE VIEW bodies AS SELECT body FROM notes",
    );
    const reader = await createReadOnlyRole(url);
    const r = new URL(reader);
    expect(r.username).toMatch(/^ldakit_reader_\d+_[0-9a-f]{8}$/);
    expect(r.password).not.toBe("");
    expect(r.pathname).toBe(new URL(url).pathname);
    expect(await query(reader, "SELECT current_user AS who")).toEqual([{ who: r.username }]);
    expect(await query(reader, "SELECT id, body FROM notes")).toEqual([{ id: 1, body: "keep me" }]);
    expect(await query(reader, "SELECT body FROM bodies")).toEqual([{ body: "keep me" }]);
    // A table the admin creates after the role exists is readable too.
    await query(url, "CREATE TABLE later (n integer); INSERT INTO later VALUES (3)");
    expect(await query(reader, "SELECT n FROM later")).toEqual([{ n: 3 }]);

    // 42501: insufficient_privilege, for every kind of write.
    expect(await outcome(reader, "INSERT INTO notes VALUES (2, 'x')")).toBe("42501");
    expect(await outcome(reader, "UPDATE notes SET body = 'x'")).toBe("42501");
    expect(await outcome(reader, "DELETE FROM notes")).toBe("42501");
    expect(await outcome(reader, "TRUNCATE notes")).toBe("42501");
    expect(await outcome(reader, "INSERT INTO later VALUES (4)")).toBe("42501");
    expect(await outcome(reader, "CREATE TABLE mine (n integer)")).toBe("42501");
    expect(await outcome(reader, "DROP TABLE notes")).toBe("42501");
    expect(await outcome(reader, "SELECT * FROM notes FOR UPDATE")).toBe("42501");
    expect(await outcome(reader, "CREATE DATABASE not_mine")).toBe("42501");
    expect(await outcome(reader, "CREATE ROLE not_mine")).toBe("42501");
    expect(await query(url, "SELECT id, body FROM notes")).toEqual([{ id: 1, body: "keep me" }]);
    expect(
      await query(
        url,
        `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = '${r.username}'`,
      ),
    ).toEqual([
      {
        rolsuper: false,
        rolcreatedb: false,
        rolcreaterole: false,
        rolreplication: false,
        rolbypassrls: false,
        rolcanlogin: true,
      },
    ]);
  });

  it("reads nothing of another database on the server", async () => {
    const mine = await newDatabase();
    const other = await newDatabase();
    await query(other, "CREATE TABLE secret (n integer); INSERT INTO secret VALUES (1)");
    const reader = new URL(await createReadOnlyRole(mine));
    reader.pathname = new URL(other).pathname;
    expect(await outcome(reader.href, "SELECT n FROM secret")).toBe("42501");
  });

  it("carries in its URL the password the role was given", async () => {
    const url = await newDatabase();
    const reader = new URL(await createReadOnlyRole(url));
    // The test server trusts loopback connections, so logging in proves nothing about the
    // password; the server's SCRAM verifier of it does (RFC 5802: StoredKey = H(HMAC(
    // PBKDF2(password, salt, i), "Client Key"))).
    const [row] = await query<{ verifier: string }>(
      url,
      `SELECT rolpassword AS verifier FROM pg_authid WHERE rolname = '${reader.username}'`,
    );
    const parts = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):/.exec(row?.verifier ?? "");
    expect(parts, row?.verifier).not.toBeNull();
    const [, iterations, salt, storedKey] = parts as RegExpExecArray;
    const salted = pbkdf2Sync(
      decodeURIComponent(reader.password),
      Buffer.from(salt as string, "base64"),
      Number(iterations),
      32,
      "sha256",
    );
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    expect(createHash("sha256").update(clientKey).digest("base64")).toBe(storedKey);
  });
});
