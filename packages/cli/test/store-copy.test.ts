// `ldakit store copy` between SQLite and a real PostgreSQL server (the run's, from the vitest
// globalSetup): the copies answer every search as the original does, and pass `ldakit verify`;
// and a store built by four `ldakit migrate --process-pending` processes on PostgreSQL, copied to
// SQLite, answers as one built by a single process on SQLite.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type CliStore,
  ldakit,
  ldakitAsync,
  postgres,
  type Run,
  sqlite,
  tempDir,
} from "./backends.js";
import { filesBelow } from "./store-files.js";

const EXAMPLES = join(import.meta.dirname, "../../../examples/bike-care");
const QUERIES = join(EXAMPLES, "eval-queries.json");

function ok(r: Run, what: string): Run {
  expect(r.code, `${what}: ${r.stderr}`).toBe(0);
  return r;
}

function json(args: string[], what = args.join(" ")): Record<string, unknown> {
  return JSON.parse(ok(ldakit([...args, "--json"]), what).stdout);
}

/** Every file under the store root's `embeddings/`, with its bytes. */
function storeFiles(root: string): Record<string, string> {
  return Object.fromEntries(
    filesBelow(root, "embeddings").map((path) => [
      path,
      readFileSync(join(root, path)).toString("base64"),
    ]),
  );
}

/** What a store answers: searches (projected, by id, direct), eval and stats, as JSON. */
function answers(db: string[], questions: string[]): unknown {
  return {
    searches: questions.flatMap((q) => [
      json([...db, "search", q, "--top-k", "8"]),
      json([...db, "search", q, "--mh-id", "1", "--top-k", "8"]),
      json([...db, "search", q, "--direct", "--top-k", "8"]),
    ]),
    eval: json([...db, "eval", "--queries", QUERIES]),
    stats: json([...db, "stats"]),
  };
}

describe("ldakit store copy", () => {
  it("SQLite → PostgreSQL → SQLite: the same rows, files and answers, verified on both sides", async () => {
    const original = await sqlite.newStore();
    ok(
      ldakit([
        ...original.args,
        "migrate",
        "--scan",
        "--input",
        join(EXAMPLES, "raw"),
        "--process-pending",
      ]),
      "build",
    );
    ok(
      ldakit([...original.args, "train", "--adapter", "linear", "--temperature", "0.1"]),
      "train 1",
    );
    ok(
      ldakit([
        ...original.args,
        "train",
        "--adapter",
        "none",
        "--temperature",
        "0.2",
        "--blend",
        "1",
      ]),
      "train 2",
    );

    const url = (await postgres.newStore()).location;
    const secret = "copy-s3cret";
    const withPassword = url.replace("://postgres@", `://postgres:${secret}@`);
    const pgRoot = tempDir("ldakit-cli-copy-root-");
    const there = ldakit([
      "store",
      "copy",
      "--from",
      original.location,
      "--to",
      withPassword,
      "--to-store-root",
      pgRoot,
      "--json",
    ]);
    ok(there, "copy to PostgreSQL");
    const toPostgres = JSON.parse(there.stdout);
    expect(toPostgres).toMatchObject({
      from: original.location,
      to: url.replace("://postgres@", "://postgres:***@"),
      tables: {
        models: 1,
        clusters: 28,
        questions: 224,
        embeddings: 252,
        multi_head_projections: 2,
      },
      verify: { from: { ok: true, problems: [] }, to: { ok: true, problems: [] } },
    });
    expect(toPostgres.tables).not.toHaveProperty("store_settings");
    expect(toPostgres.files).toBe(Object.keys(storeFiles(original.root)).length);
    expect(toPostgres.files).toBeGreaterThan(252);

    const back = join(tempDir("ldakit-cli-copy-back-"), "back.db");
    const home = ldakit(["store", "copy", "--from", withPassword, "--to", back]);
    ok(home, "copy back to SQLite");
    expect(home.stdout).toMatch(
      /^copied postgres:\/\/postgres:\*\*\*@\S+ → \S+back\.db\n\d+ rows \(models 1, training_batches 3, .*\), \d+ files \(\d+ bytes\)\nverify postgres:\S+: ok, \d+ files, 2 projections checked\nverify \S+back\.db: ok, \d+ files, 2 projections checked\n$/,
    );
    for (const r of [there, home]) expect(r.stdout + r.stderr).not.toContain(secret);

    // The three stores: the same files byte for byte, and the same answers to the same questions.
    expect(storeFiles(pgRoot)).toEqual(storeFiles(original.root));
    expect(storeFiles(join(back, ".."))).toEqual(storeFiles(original.root));
    const questions = ["which lock should I buy", "how hard should my tyres be pumped"];
    const expected = answers(original.args, questions);
    expect(answers(["--db", url], questions)).toEqual(expected);
    expect(answers(["--db", back], questions)).toEqual(expected);
    for (const db of [original.location, url, back]) {
      expect(json(["--db", db, "verify"]), db).toMatchObject({ ok: true, problems: [] });
    }

    // The copy on PostgreSQL goes on as a store of its own: new rows get new ids.
    const more = tempDir("ldakit-cli-copy-more-");
    writeFileSync(
      join(more, "more.json"),
      JSON.stringify({
        clusters: [{ answer: "Oil the chain", answer_id: "oil", questions: ["chain squeaks?"] }],
      }),
    );
    const scanned = json(["--db", url, "migrate", "--scan", "--input", more, "--process-pending"]);
    expect(scanned).toMatchObject({ scan: { new: [{ batch_id: 4 }] } });
    expect(json(["--db", url, "stats"])).toMatchObject({ clusters: 29 });
  });

  it("refuses a target with rows, a missing target root, --db, and one database as both ends", async () => {
    const source = await sqlite.newStore();
    ok(ldakit([...source.args, "migrate", "--scan", "--input", join(EXAMPLES, "raw")]), "scan");
    const target = await postgres.newStore();
    const first = ["store", "copy", "--from", source.location, "--to", target.location];

    const noRoot = ldakit(first);
    expect(noRoot.code).toBe(1);
    expect(noRoot.stderr).toMatch(
      /^ldakit: the store postgres:\S+ has no store root yet: .* with --to-store-root\n$/,
    );
    ok(ldakit([...first, "--to-store-root", target.root]), "first copy");
    const again = ldakit(first);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /^ldakit: postgres:\S+ already has rows in table training_batches: store copy writes only into an empty store/,
    );
    // The refused copy changed nothing: still exactly the three batches.
    expect(json(["--db", target.location, "migrate", "--list-batches"]).batches).toHaveLength(3);

    const otherRoot = ldakit([...first, "--to-store-root", tempDir()]);
    expect(otherRoot.code).toBe(1);
    expect(otherRoot.stderr).toMatch(/give that folder as --to-store-root, or leave it out/);

    const withDb = ldakit(["--db", source.location, ...first]);
    expect(withDb.code).toBe(2);
    expect(withDb.stderr).toMatch(/store copy names its stores with --from and --to/);
    const same = ldakit(["store", "copy", "--from", source.location, "--to", source.location]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/--from and --to are the same database/);
    const missing = ldakit([
      "store",
      "copy",
      "--from",
      join(source.root, "absent.db"),
      "--to",
      join(tempDir(), "t.db"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^ldakit: no store at \S+absent\.db; .*point --from at an existing store/,
    );
  });
});

/** A raw form (a) file whose every answer and question names its file. */
function writeInput(input: string, file: number, clusters: number, questions: number): void {
  writeFileSync(
    join(input, `f${String(file).padStart(2, "0")}.json`),
    JSON.stringify({
      clusters: Array.from({ length: clusters }, (_, c) => ({
        answer: `Answer ${c} of file ${file}: turn the dial of gadget ${c} to position ${(c * 7) % 11}`,
        answer_id: `f${file}-c${c}`,
        questions: Array.from(
          { length: questions },
          (_, q) => `How do I set gadget ${c} for task ${q} (file ${file})?`,
        ),
      })),
    }),
  );
}

interface Hit {
  cluster_id: number;
  answer_record_id: string;
  answer_text: string;
  score: number;
}

/** A search's ranking without the store's own ids (which depend on the order batches ran in). */
function ranking(result: Record<string, unknown>): Array<[string, string]> {
  return (result.results as Hit[]).map((hit) => [hit.answer_record_id, hit.answer_text]);
}

describe("four workers on PostgreSQL", () => {
  it("build a store that, copied to SQLite, answers as one built by one process on SQLite", {
    timeout: 600_000,
  }, async () => {
    const input = tempDir("ldakit-cli-workers-raw-");
    const files = 16;
    for (let f = 0; f < files; f++) writeInput(input, f, 12, 6);

    const single: CliStore = await sqlite.newStore();
    ok(
      ldakit([...single.args, "migrate", "--scan", "--input", input, "--process-pending"]),
      "one process on SQLite",
    );

    const shared = await postgres.newStore();
    ok(ldakit([...shared.args, "migrate", "--scan", "--input", input]), "scan on PostgreSQL");
    const workers = await Promise.all(
      Array.from({ length: 4 }, () =>
        ldakitAsync(["--db", shared.location, "migrate", "--process-pending", "--json"]),
      ),
    );
    const taken = workers.map((r, i) => {
      ok(r, `worker ${i + 1}`);
      return (JSON.parse(r.stdout).processed.completed as Array<{ batch_id: number }>).map(
        (o) => o.batch_id,
      );
    });
    expect(
      taken.flat().sort((a, b) => a - b),
      "every batch completed by exactly one worker",
    ).toEqual(Array.from({ length: files }, (_, i) => i + 1));
    expect(taken.filter((ids) => ids.length > 0).length, "workers that got work").toBeGreaterThan(
      1,
    );

    const copied = join(tempDir("ldakit-cli-workers-copy-"), "lda.db");
    ok(ldakit(["store", "copy", "--from", shared.location, "--to", copied]), "copy to SQLite");
    const train = ["train", "--adapter", "none", "--temperature", "0.1", "--blend", "1", "--json"];
    const trained = [single.location, copied].map((db) =>
      JSON.parse(ok(ldakit(["--db", db, ...train]), `train ${db}`).stdout),
    );
    expect(trained[1]).toMatchObject({ num_heads: 192, num_questions: 1152 });
    expect(trained[1].num_heads).toBe(trained[0].num_heads);

    const questions = [
      "How do I set gadget 3 for task 2 (file 5)?",
      "turn the dial of gadget 7",
      "gadget 11 in file 15, task 0",
    ];
    for (const q of questions) {
      for (const how of [[], ["--direct"]]) {
        const [one, four] = [single.location, copied].map((db) =>
          json(["--db", db, "search", q, "--top-k", "10", ...how]),
        );
        const a = one as Record<string, unknown>;
        const b = four as Record<string, unknown>;
        expect(ranking(b), `${q} ${how}`).toEqual(ranking(a));
        // The scores are the same sums taken over the heads in another order (ids follow the
        // order batches ran in): equal to float32 precision.
        const scores = (r: Record<string, unknown>) => (r.results as Hit[]).map((h) => h.score);
        for (const [i, score] of scores(b).entries()) {
          expect(score).toBeCloseTo(scores(a)[i] as number, 5);
        }
      }
    }
  });
});
