import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { describe, expect, it } from "vitest";
import { backends, type TestBackend, type TestStore } from "./backends.js";
import { tempDir, writeFiles } from "./helpers.js";

// How the store reads a raw file's JSON: strictly, from its bytes, so that nothing is dropped,
// replaced or stored as text another reader of the database cannot decode.

const embedder = createHashEmbedder(16);

/** A new store, and a folder for its raw inputs outside the store root. */
async function openStore(backend: TestBackend) {
  const store = await backend.newStore();
  const input = join(tempDir(), "raw");
  const db = await store.open();
  return { store, input, db };
}

/**
 * Every row of every table read through the database's own client (node-postgres decodes each
 * text value as UTF-8), then the questions' texts.
 */
async function readWithPeer(store: TestStore): Promise<string[]> {
  const tables = await store.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
  );
  expect(tables.length).toBeGreaterThan(0);
  for (const { name } of tables) await store.query(`SELECT * FROM "${name}"`);
  return (
    await store.query<{ question_text: string }>(
      "select question_text from questions order by question_id",
    )
  ).map((r) => r.question_text);
}

/** Every text column of every table as Python's sqlite3 reads it (it refuses invalid UTF-8). */
function readWithPython(dbPath: string): { questions: string[]; error?: string } {
  const script = `
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
try:
    for (table,) in con.execute("select name from sqlite_master where type = 'table'").fetchall():
        con.execute(f'select * from "{table}"').fetchall()
    questions = [q for (q,) in con.execute("select question_text from questions order by question_id")]
    print(json.dumps({"questions": questions}))
except Exception as error:
    print(json.dumps({"questions": [], "error": f"{type(error).__name__}: {error}"}))
`;
  const run = spawnSync("python3", ["-c", script, dbPath], { encoding: "utf8" });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

describe.each(backends)("the store on $name reads raw JSON strictly", (backend) => {
  it("imports the questions of a __proto__ query list and a constructor answer variant", async () => {
    const { store, input, db } = await openStore(backend);
    // written by hand: in a JS object literal `__proto__:` sets the prototype, not a key
    writeFiles(input, {
      "proto.json": `{"clusters": [{"id": "c1",
  "answers": {"default": "Inflate to the sidewall pressure.", "constructor": "a variant"},
  "queries": {"short": ["tyre pressure"],
              "__proto__": ["how hard should tyres be", "what psi for my tyres"]}}]}`,
    });
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.failed).toEqual([]);
    expect(result.completed.map((o) => [o.clusters, o.questions])).toEqual([[1, 3]]);
    const rows = await store.query(
      "select question_text, length_type from questions order by question_id",
    );
    expect(rows).toEqual([
      { question_text: "tyre pressure", length_type: "short" },
      { question_text: "how hard should tyres be", length_type: "__proto__" },
      { question_text: "what psi for my tyres", length_type: "__proto__" },
    ]);
    await db.close();
  });

  it("fails a file with a repeated key, naming the key, the line and the column, and imports nothing of it", async () => {
    const { input, db } = await openStore(backend);
    writeFiles(input, {
      "dup.json": `{"clusters": [{"answer_id": 1, "answer": "Oil the chain.",
  "questions": ["chain squeaks"],
  "questions": ["chain is noisy"]}]}`,
    });
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.completed).toEqual([]);
    expect(result.failed.map((o) => o.error)).toEqual([
      'JSON parse error at line 3, column 3: duplicate key "questions" in one object (a reader would keep only one of its values)',
    ]);
    const [failed] = await db.listBatches({ status: "failed" });
    expect(failed?.error_message).toBe(result.failed[0]?.error);
    expect((await db.stats()).questions).toBe(0);
    await db.close();
  });

  it("refuses a lone surrogate, so nothing Python's sqlite3 or a PostgreSQL client cannot decode reaches the database", async () => {
    const { store, input, db } = await openStore(backend);
    writeFiles(input, {
      "good.json": `{"clusters": [{"answer_id": 1, "answer": "Oil the chain.", "questions": ["chain squeaks 😀"]}]}`,
      "surrogate.json": `{"clusters": [{"answer_id": 2, "answer": "Check the brakes.",
  "questions": ["brakes \\ud800 squeal"]}]}`,
    });
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.completed.map((o) => o.filePath.split("/").pop())).toEqual(["good.json"]);
    expect(result.failed.map((o) => o.error)).toEqual([
      "JSON parse error at line 2, column 25: lone surrogate \\ud800: a high surrogate must be followed by a low one (\\udc00-\\udfff)",
    ]);
    await db.close();
    if (backend.name === "sqlite") {
      // SQLite stores whatever bytes it is given; Python's sqlite3 is a reader that refuses them.
      expect(readWithPython(store.location)).toEqual({ questions: ["chain squeaks 😀"] });
    } else {
      expect(await readWithPeer(store)).toEqual(["chain squeaks 😀"]);
    }
  });

  it("fails a file with invalid UTF-8 at its byte, rather than storing U+FFFD", async () => {
    const { input, db } = await openStore(backend);
    writeFiles(input, {});
    writeFileSync(
      join(input, "latin1.json"),
      Buffer.from(
        '{"clusters": [{"answer_id": 1, "answer": "Serve the caf\xe9 hot.", "questions": ["coffee"]}]}',
        "latin1",
      ),
    );
    await db.scan(input);
    const result = await db.processPending({ embedder });
    expect(result.failed.map((o) => o.error)).toEqual([
      "JSON parse error at line 1, column 56: invalid UTF-8 at byte offset 55: byte 0xE9 starts a 3-byte character that is cut short; save the file as UTF-8",
    ]);
    expect((await db.stats()).clusters).toBe(0);
    await db.close();
  });
});
