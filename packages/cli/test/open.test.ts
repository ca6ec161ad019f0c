import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const EXAMPLES = join(import.meta.dirname, "../../../examples/bike-care");
const QUERIES = join(EXAMPLES, "eval-queries.json");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ldakit-cli-open-"));
  dirs.push(d);
  return d;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ldakit(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    encoding: "utf8",
    env: { ...process.env, LDAKIT_DB: "", ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs Python's sqlite3 module on a database: a real peer that is not ldakit. */
function python(db: string, script: string): string {
  return execFileSync("python3", ["-c", script, db], { encoding: "utf8" }).trim();
}

/** Every file under `dir` with its bytes' hash: what a refused command must leave as it was. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(dir.length + 1)] = readFileSync(path).toString("base64");
  }
  return out;
}

/**
 * How to run the CLI as a user who cannot write a folder: as root, user `nobody` through
 * runuser (root writes anything); as anyone else, that user on a folder without write permission.
 */
const root = process.getuid?.() === 0;
const runuserWorks = root && spawnSync("runuser", ["-u", "nobody", "--", "true"]).status === 0;
function ldakitAsReader(args: string[], cwd: string): Run {
  const command = runuserWorks ? "runuser" : process.execPath;
  const prefix = runuserWorks ? ["-u", "nobody", "--", process.execPath] : [];
  const r = spawnSync(command, [...prefix, CLI, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, LDAKIT_DB: "", LDAKIT_CACHE: join(cwd, "no-cache") },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** Takes write permission away from everyone but root (who is then not the one reading). */
function makeUnwritable(dir: string): void {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    chmodSync(path, entry.isDirectory() ? 0o555 : 0o444);
  }
  chmodSync(dir, 0o555);
}
function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    chmodSync(path, entry.isDirectory() ? 0o755 : 0o644);
  }
}

/** A store with the example imported and a projection trained, made once for the suite. */
let trained: string;
beforeAll(() => {
  trained = mkdtempSync(join(tmpdir(), "ldakit-cli-open-store-"));
  const db = join(trained, "lda.db");
  const steps = [
    ["--db", db, "migrate", "--scan", "--input", join(EXAMPLES, "raw"), "--process-pending"],
    ["--db", db, "train", "--temperature", "0.1", "--adapter", "none", "--blend", "1"],
  ];
  for (const args of steps) {
    const r = ldakit(args);
    expect(r.code, r.stderr).toBe(0);
  }
}, 60_000);
afterAll(() => rmSync(trained, { recursive: true, force: true }));

/** A copy of the trained store in a folder others can enter (mkdtemp makes them 0700). */
function trainedCopy(): string {
  const base = tempDir();
  chmodSync(base, 0o755);
  const store = join(base, "store");
  cpSync(trained, store, { recursive: true });
  makeWritable(store);
  return store;
}

const READ_COMMANDS: Array<[string, string[]]> = [
  ["stats", ["stats"]],
  ["search", ["search", "which lock should I buy"]],
  ["eval", ["eval", "--queries", QUERIES]],
  ["verify", ["verify"]],
  ["migrate --list-batches", ["migrate", "--list-batches"]],
];
const WRITE_COMMANDS: Array<[string, string[]]> = [
  ["train", ["train", "--temperature", "0.1"]],
  ["migrate --process-pending", ["migrate", "--process-pending"]],
];

describe("a path that holds no store", () => {
  it("every command that may not create a store says so, creates nothing, and exits 1", () => {
    const cwd = tempDir();
    for (const [name, args] of [...READ_COMMANDS, ...WRITE_COMMANDS]) {
      const r = ldakit(["--db", "typo/sub/lda.db", ...args], { cwd });
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr, name).toBe(
        "ldakit: no store at typo/sub/lda.db; create one with `ldakit --db typo/sub/lda.db migrate --scan --input DIR` (or point --db, LDAKIT_DATABASE_URL or LDAKIT_DB at an existing store)\n",
      );
      expect(readdirSync(cwd), `${name} created nothing`).toEqual([]);
    }
  });

  it("ldakit migrate creates the store (folders too); bare, it only creates or upgrades the schema", () => {
    const cwd = tempDir();
    const made = ldakit(["--db", "new/sub/lda.db", "migrate"], { cwd });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(
      /^store .*new\/sub\/lda\.db: schema \d{3}_\w+ \(ran 001_seed, 002_ldakit, .*\)\n$/,
    );
    const again = ldakit(["--db", "new/sub/lda.db", "--json", "migrate"], { cwd });
    expect(JSON.parse(again.stdout).schema.migrated).toEqual([]);
    expect(ldakit(["--db", "new/sub/lda.db", "stats"], { cwd }).code).toBe(0);
  });
});

describe("a file that is not an ldakit store", () => {
  it("every command, migrate included, names it and leaves it byte-for-byte as it was", () => {
    const cwd = tempDir();
    const db = join(cwd, "notes.db");
    python(
      db,
      "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE notes (body TEXT)'); c.execute(\"INSERT INTO notes VALUES ('mine')\"); c.commit()",
    );
    mkdirSync(join(cwd, "raw"));
    cpSync(join(EXAMPLES, "raw", "gear.json"), join(cwd, "raw", "gear.json"));
    const before = snapshot(cwd);
    const all: Array<[string, string[]]> = [
      ...READ_COMMANDS,
      ...WRITE_COMMANDS,
      ["migrate", ["migrate"]],
      ["migrate --scan", ["migrate", "--scan", "--input", "raw"]],
    ];
    for (const [name, args] of all) {
      const r = ldakit(["--db", db, ...args], { cwd });
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr, name).toBe(
        `ldakit: ${db} is a SQLite database but not an ldakit store (its tables: notes); ldakit leaves it untouched\n`,
      );
      expect(snapshot(cwd), `${name} changed nothing`).toEqual(before);
    }
    expect(
      python(
        db,
        "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT group_concat(name) FROM sqlite_master').fetchone()[0])",
      ),
    ).toBe("notes");
  });

  it("a file that is not SQLite at all: a clear error, the file as it was", () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, "lda.db"),
      "just some text that happens to be called lda.db\n".repeat(3),
    );
    const before = snapshot(cwd);
    for (const args of [["stats"], ["migrate"], ["train"]]) {
      const r = ldakit(args, { cwd });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `ldakit: ${join(cwd, "lda.db")} is not a SQLite database, so no ldakit store\n`,
      );
      expect(snapshot(cwd)).toEqual(before);
    }
  });
});

describe("schema versions", () => {
  it("a store of a newer ldakit: every command says to upgrade, and changes nothing", () => {
    const store = trainedCopy();
    const db = join(store, "lda.db");
    python(
      db,
      "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO kysely_migration VALUES ('999_future', '2031-01-01T00:00:00.000Z')\"); c.commit()",
    );
    const before = snapshot(store);
    for (const [name, args] of [
      ...READ_COMMANDS,
      ...WRITE_COMMANDS,
      ["migrate", ["migrate"]],
    ] as Array<[string, string[]]>) {
      const r = ldakit(["--db", db, ...args]);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(
        /^ldakit: the store .*lda\.db was written by a newer ldakit \(schema 999_future; .*\); upgrade ldakit to open it\n$/,
      );
      expect(snapshot(store), name).toEqual(before);
    }
  });

  it("the original Python tool's database: readers ask for ldakit migrate, which adopts it", () => {
    const cwd = tempDir();
    const db = join(cwd, "lda.db");
    python(
      db,
      `import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript('''
CREATE TABLE models (model_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dimensions INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE clusters (cluster_id INTEGER PRIMARY KEY, answer_text TEXT NOT NULL, answer_record_id TEXT, model_id INTEGER NOT NULL REFERENCES models(model_id));
CREATE TABLE questions (question_id INTEGER PRIMARY KEY, cluster_id INTEGER NOT NULL REFERENCES clusters(cluster_id), question_text TEXT NOT NULL);
CREATE TABLE embeddings (embedding_id INTEGER PRIMARY KEY, entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL, model_id INTEGER NOT NULL, vector_path TEXT NOT NULL);
INSERT INTO models (name, dimensions) VALUES ('seed-model', 3);
''')
c.commit()`,
    );
    const before = snapshot(cwd);
    for (const [name, args] of READ_COMMANDS) {
      const r = ldakit(["--db", db, ...args]);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toBe(
        `ldakit: the store ${db} has the original Python tool's schema, older than this ldakit's ${r.stderr.match(/this ldakit's (\S+);/)?.[1]}; a command that only reads does not migrate it — run ldakit migrate on it first (ldakit --db ${db} migrate)\n`,
      );
      expect(snapshot(cwd), name).toEqual(before);
    }
    const adopted = ldakit(["--db", db, "migrate"]);
    expect(adopted.code, adopted.stderr).toBe(0);
    expect(adopted.stdout).toMatch(/\(ran 001_seed, /);
    const stats = ldakit(["--db", db, "--json", "stats"]);
    expect(JSON.parse(stats.stdout).models).toMatchObject([{ name: "seed-model", dimensions: 3 }]);
  });
});

describe("read-only commands on a store this user cannot write", () => {
  it(`search, eval, stats, verify and migrate --list-batches print what the owner sees; train is refused`, (ctx) => {
    if (root && !runuserWorks) {
      ctx.skip(
        "running as root, and runuser cannot switch to user nobody: no user who cannot write",
      );
    }
    const store = trainedCopy();
    const db = join(store, "lda.db");
    makeUnwritable(store);
    try {
      const before = snapshot(store);
      for (const [name, args] of READ_COMMANDS) {
        const json = name === "migrate --list-batches" ? args : ["--json", ...args];
        const owner = ldakit(["--db", db, ...json]);
        const reader = ldakitAsReader(["--db", db, ...json], store);
        expect(owner.code, `${name} as the owner: ${owner.stderr}`).toBe(0);
        expect(reader.code, `${name} as a reader: ${reader.stderr}`).toBe(0);
        expect(reader.stdout, name).toBe(owner.stdout);
        expect(snapshot(store), `${name} wrote nothing`).toEqual(before);
      }
      const train = ldakitAsReader(["--db", db, "train", "--temperature", "0.1"], store);
      expect(train.code).toBe(1);
      expect(train.stderr).toBe(
        `ldakit: the store ${db} is not writable by this user; a command that only reads it can still open it\n`,
      );
      expect(snapshot(store)).toEqual(before);
    } finally {
      makeWritable(store);
    }
  });

  it("a WAL store without its -wal file (left by an older ldakit) gets a message that says what to do", (ctx) => {
    if (root && !runuserWorks) {
      ctx.skip(
        "running as root, and runuser cannot switch to user nobody: no user who cannot write",
      );
    }
    const store = trainedCopy();
    const db = join(store, "lda.db");
    // What every ldakit before this one left: WAL mode in the header, the -wal file gone on close.
    expect(
      python(
        db,
        "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode = WAL').fetchone()[0])",
      ),
    ).toBe("wal");
    expect(readdirSync(store).sort()).toEqual(["embeddings", "lda.db"]);
    makeUnwritable(store);
    try {
      const refused = ldakitAsReader(["--db", db, "stats"], store);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^ldakit: cannot read the store .*lda\.db: it is in WAL mode without its .*lda\.db-wal file, and this user cannot write its folder .*; run a command that writes the store once \(e\.g\. ldakit migrate\) as a user who can write the folder, which leaves it readable\n$/,
      );
    } finally {
      makeWritable(store);
    }
    expect(ldakit(["--db", db, "migrate"]).code).toBe(0);
    makeUnwritable(store);
    try {
      expect(ldakitAsReader(["--db", db, "stats"], store).code).toBe(0);
    } finally {
      makeWritable(store);
    }
  });
});

describe("the busy timeout", () => {
  it("a write waits --busy-timeout for another process's lock, then names the store and what to do; reads go on", async () => {
    const store = trainedCopy();
    const db = join(store, "lda.db");
    const input = join(tempDir(), "raw");
    mkdirSync(input);
    writeFileSync(
      join(input, "new.json"),
      JSON.stringify({ clusters: [{ answer: "An answer.", questions: ["A question?"] }] }),
    );
    // Python's sqlite3 holds the write lock, as any program with the database open may.
    const holder = spawn(
      "python3",
      [
        "-c",
        "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\ntime.sleep(60)",
        db,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
        holder.on("exit", () => reject(new Error("the lock holder exited")));
      });
      for (const [how, args, env, ms] of [
        ["--busy-timeout", ["--busy-timeout", "300"], {}, 300],
        ["LDAKIT_BUSY_TIMEOUT", [], { LDAKIT_BUSY_TIMEOUT: "200" }, 200],
      ] as Array<[string, string[], Record<string, string>, number]>) {
        const started = Date.now();
        const r = ldakit(["--db", db, ...args, "migrate", "--scan", "--input", input], { env });
        expect(r.code, how).toBe(1);
        expect(r.stderr, how).toBe(
          `ldakit: the store ${db} is locked: another process (another ldakit command, or a program with the database open) held its write lock longer than the busy timeout of ${ms} ms; run this again when that process has finished, or wait longer with --busy-timeout MS (or LDAKIT_BUSY_TIMEOUT)\n`,
        );
        expect(Date.now() - started, how).toBeGreaterThanOrEqual(ms);
      }
      const stats = ldakit(["--db", db, "--busy-timeout", "100", "stats"]);
      expect(stats.code, stats.stderr).toBe(0);
    } finally {
      holder.kill();
    }
    // Once the lock is gone, the same scan goes through.
    await new Promise((r) => setTimeout(r, 50));
    expect(ldakit(["--db", db, "migrate", "--scan", "--input", input]).stdout).toMatch(/1 new/);
  });

  it("is a whole number of milliseconds in range, else a usage error", () => {
    const cwd = tempDir();
    for (const bad of ["-1", "abc", "1e3", "2.5", "", "2147483648"]) {
      const r = ldakit(["--busy-timeout", bad, "stats"], { cwd });
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toBe(
        `ldakit: --busy-timeout must be a whole number of milliseconds from 0 to 2147483647, not "${bad}"\n`,
      );
    }
    const env = ldakit(["stats"], { cwd, env: { LDAKIT_BUSY_TIMEOUT: "soon" } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^ldakit: LDAKIT_BUSY_TIMEOUT must be a whole number/);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe("migrate --scan on inputs that are not plain files", () => {
  it("reports each skipped input with its reason, queues the rest, and exits 1", () => {
    const cwd = tempDir();
    const input = join(cwd, "raw");
    mkdirSync(input);
    cpSync(join(EXAMPLES, "raw", "gear.json"), join(input, "a.json"));
    execFileSync("mkfifo", [join(input, "b.json")]);
    symlinkSync(join(input, "missing.json"), join(input, "c.json"));
    cpSync(join(EXAMPLES, "raw", "riding.json"), join(input, "d.json"));
    const scan = ldakit(["migrate", "--scan", "--input", input], { cwd });
    expect(scan.code, scan.stderr).toBe(1);
    expect(scan.stdout).toBe(
      [
        `new       batch 1  ${join(input, "a.json")}`,
        `new       batch 2  ${join(input, "d.json")}`,
        `skipped   ${join(input, "b.json")}: a FIFO (named pipe), not a regular file`,
        `skipped   ${join(input, "c.json")}: a broken symbolic link (what it points to does not exist)`,
        "scan: 2 new, 0 modified, 0 unchanged, 2 skipped",
        "",
      ].join("\n"),
    );
    const json = ldakit(["--json", "migrate", "--scan", "--input", input], { cwd });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).scan.skipped).toEqual([
      {
        file: join(input, "b.json"),
        reason: "a FIFO (named pipe), not a regular file",
        error: true,
      },
      {
        file: join(input, "c.json"),
        reason: "a broken symbolic link (what it points to does not exist)",
        error: true,
      },
    ]);
    const processed = ldakit(["migrate", "--process-pending"], { cwd });
    expect(processed.code, processed.stderr).toBe(0);
    expect(processed.stdout).toMatch(/2 completed, 0 failed/);
  });
});
