// `--json` output is snake_case, like the database, for every command (the README says so);
// the TypeScript API underneath is camelCase. Search and train JSON are checked against the API.
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHashEmbedder } from "@ldakit/embed";
import { LDAProjectionDB } from "@ldakit/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliancesFolder } from "./appliances.js";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");

let cwd: string;
function ldakitJson(args: string[]): unknown {
  const r = spawnSync(process.execPath, [CLI, "--json", ...args], { cwd, encoding: "utf8" });
  expect(r.status, `ldakit ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout);
}

/** Every object key in a JSON value, with where it is, e.g. `results[0].cluster_id`. */
function keysOf(value: unknown, at = ""): Array<[string, string]> {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysOf(v, `${at}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => [
    [k, `${at}.${k}`] as [string, string],
    ...keysOf(v, `${at}.${k}`),
  ]);
}

function expectSnakeCase(value: unknown): void {
  const keys = keysOf(value);
  expect(keys.length).toBeGreaterThan(0);
  expect(
    keys.filter(([k]) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(k)).map(([, at]) => at),
  ).toEqual([]);
}

beforeAll(() => {
  cwd = appliancesFolder("ldakit-cli-json-");
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe("--json", () => {
  it("is snake_case for migrate, train, search, eval, stats, verify and store copy", async () => {
    expectSnakeCase(
      ldakitJson([
        "migrate",
        "--scan",
        "--input",
        "raw",
        "--process-pending",
        "--model",
        "hash-32",
      ]),
    );
    expectSnakeCase(ldakitJson(["migrate", "--list-batches"]));

    const trained = ldakitJson(["train", "--temperature", "0.1", "--folds", "3"]) as Record<
      string,
      unknown
    >;
    expectSnakeCase(trained);
    expect(trained).toMatchObject({
      mh_projection_id: 1,
      model: "hash-32",
      num_heads: 4,
      num_questions: 12,
      temperature: 0.1,
      centroid: "weighted",
      held_out: { queries: 12 },
      selection: { temperature: 0.1, folds: 3 },
    });
    // One τ × 5 β × (no adapter + a linear one with 2 λ × 2 targets).
    const curve = trained.curve as Array<Record<string, unknown>>;
    expect(curve).toHaveLength(25);
    expect(curve.every((p) => p.temperature === 0.1)).toBe(true);

    const query = "how do I clean my toaster?";
    const projected = ldakitJson(["search", query, "--top-k", "2"]) as Record<string, unknown>;
    const direct = ldakitJson(["search", query, "--top-k", "2", "--direct"]) as Record<
      string,
      unknown
    >;
    expectSnakeCase(projected);
    expectSnakeCase(direct);
    // The same answers and scores as the store's API gives for the same query vector.
    const db = await LDAProjectionDB.open(join(cwd, "lda.db"));
    try {
      const [vector] = await createHashEmbedder(32).embed([query]);
      const api = await db.searchWithProjection(vector as Float32Array, 1, { topK: 2 });
      const apiDirect = await db.directSearch(vector as Float32Array, 1, { topK: 2 });
      expect(projected).toEqual({
        query,
        model: "hash-32",
        direct: false,
        mh_projection_id: 1,
        // trained without an adapter, so routed by the query itself and not blended
        adapter_path: null,
        blend: 1,
        results: api.results.map((h) => ({
          cluster_id: h.clusterId,
          answer_record_id: h.answerRecordId,
          answer_text: h.answerText,
          score: h.score,
        })),
        routing: api.routing.map((r) => ({ cluster_id: r.clusterId, weight: r.weight })),
      });
      expect(apiDirect.mhProjectionId).toBeNull();
      expect(direct).toMatchObject({
        direct: true,
        mh_projection_id: 1,
        adapter_path: null,
        blend: null,
        routing: [],
      });
      expect((direct.results as Array<{ cluster_id: number }>).map((h) => h.cluster_id)).toEqual(
        apiDirect.results.map((h) => h.clusterId),
      );
    } finally {
      await db.close();
    }

    const queries = join(cwd, "queries.json");
    writeFileSync(
      queries,
      JSON.stringify({
        clusters: [{ id: "r1", queries: { novel: ["toaster crumbs everywhere"] } }],
      }),
    );
    expectSnakeCase(ldakitJson(["eval", "--queries", queries]));
    const stats = ldakitJson(["stats"]);
    expectSnakeCase(stats);
    expect(stats).toMatchObject({
      models: [{ model_id: 1, name: "hash-32", dimensions: 32, clusters: 4, vectors: 16 }],
      projection_list: [{ id: 1, num_heads: 4, adapter_path: null, blend: 1 }],
    });
    expectSnakeCase(ldakitJson(["verify"]));
    const copied = ldakitJson(["store", "copy", "--from", "lda.db", "--to", "copy/lda.db"]);
    expectSnakeCase(copied);
    expect(copied).toMatchObject({ rows: expect.any(Number), verify: { to: { ok: true } } });
  });
});
