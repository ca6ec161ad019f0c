import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "dist", "main.js");
const EXAMPLES = join(import.meta.dirname, "../../../examples/bike-care");

let cwd: string;
function ldakit(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "ldakit-cli-commands-"));
  expect(
    ldakit(["migrate", "--scan", "--input", join(EXAMPLES, "raw"), "--process-pending"]).code,
  ).toBe(0);
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe("train, search, eval, stats", () => {
  it("chooses adapter, τ and β on held-out questions, and prints the curve beside direct search", () => {
    const r = ldakit(["train"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^projection 1: 28 heads from 224 questions \(hash-384, weighted centroids\)/m,
    );
    // hash-384 vectors, seeded folds and a seeded adapter on one backend: deterministic figures.
    expect(r.stdout).toMatch(/^direct\s+-\s+-\s+-\s+-\s+-\s+38\.4%\s+67\.9%\s+0\.527$/m);
    expect(r.stdout).toMatch(
      /^linear\s+0\.01\s+centroids\s+2\s+0\.1\s+0\.25\s+37\.1%\s+71\.4%\s+0\.529\s+← chosen$/m,
    );
    // none × 7 τ × 5 β + linear × 2 λ × 2 targets × 7 τ × 5 β, and the direct row.
    expect(r.stdout.match(/^(none|linear) /gm)).toHaveLength(175);
    expect(r.stdout).toMatch(
      /^adapter linear \(λ = 0\.01, target centroids, 2 steps on all questions\), temperature 0\.1, blend 0\.25$/m,
    );
    expect(r.stderr).toMatch(/TensorFlow\.js backend: /);
    const fixed = JSON.parse(
      ldakit([
        "train",
        "--temperature",
        "0.1",
        "--centroid",
        "mean",
        "--adapter",
        "none",
        "--blend",
        "1",
        "--json",
      ]).stdout,
    );
    expect(fixed).toMatchObject({
      mh_projection_id: 2,
      temperature: 0.1,
      centroid: "mean",
      num_heads: 28,
      adapter: "none",
      blend: 1,
      selection: { adapter: "none", blend: 1, temperature: 0.1, adapter_fallback: null },
    });
    expect(fixed.curve).toHaveLength(1);
    expect(ldakit(["train", "--temperature", "hot"]).code).toBe(2);
    expect(ldakit(["train", "--centroid", "median"]).code).toBe(2);
    expect(ldakit(["train", "--adapter", "quadratic"]).stderr).toMatch(
      /option '--adapter <kind>' argument 'quadratic' is invalid\. Allowed choices are linear, none, auto/,
    );
    expect(ldakit(["train", "--blend", "1.5"]).code).toBe(2);
  });

  it("searches the newest projection by default, a chosen one with --mh-id, or directly", () => {
    const r = JSON.parse(
      ldakit(["search", "how hard should my tyres be pumped", "--json", "--top-k", "3"]).stdout,
    );
    expect(r.mh_projection_id).toBe(2);
    expect(r.results).toHaveLength(3);
    expect(r.results[0]).toHaveProperty("answer_text");
    expect(r.routing.length).toBeGreaterThan(0);
    const first = JSON.parse(
      ldakit(["search", "how hard should my tyres be pumped", "--json", "--mh-id", "1"]).stdout,
    );
    expect(first.mh_projection_id).toBe(1);
    const direct = JSON.parse(
      ldakit(["search", "how hard should my tyres be pumped", "--json", "--direct"]).stdout,
    );
    expect(direct.direct).toBe(true);
    expect(direct.routing).toEqual([]);
    expect(ldakit(["search", "x", "--mh-id", "99"]).stderr).toMatch(/no projection 99/);
    expect(ldakit(["search", "x", "--top-k", "0"]).code).toBe(2);
  });

  it("evaluates direct and projected search on labelled queries", () => {
    // hash-384 vectors and the fixed τ = 0.1 projection are deterministic, so are these figures:
    // recalls are counts out of 56 queries, MRR as printed (3 decimals).
    const r = ldakit(["eval", "--queries", join(EXAMPLES, "eval-queries.json"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      queries: 56,
      mh_projection_id: 2,
      model: "hash-384",
      unmatched_ids: [],
    });
    expect(report.direct.recall_at_1).toBe(24 / 56);
    expect(report.direct.recall_at_5).toBe(40 / 56);
    expect(report.direct.mrr).toBeCloseTo(0.573, 3);
    expect(report.projected.recall_at_1).toBe(36 / 56);
    expect(report.projected.recall_at_5).toBe(48 / 56);
    expect(report.projected.mrr).toBeCloseTo(0.737, 3);
    // Projection 2 has no adapter and β = 1: it is the book's projection.
    expect(report.projected_without_adapter).toEqual(report.projected);
    const text = ldakit(["eval", "--queries", join(EXAMPLES, "eval-queries.json")]).stdout;
    expect(text).toMatch(
      /^projection 2 \(hash-384\), τ = 0\.1, no adapter, β = 1: 56 queries from /m,
    );
    expect(text).toMatch(/^direct\s+42\.9%\s+71\.4%\s+0\.573$/m);
    expect(text).toMatch(/^book \(no adapter, β = 1\)\s+64\.3%\s+85\.7%\s+0\.737$/m);
    expect(text).toMatch(/^trained\s+64\.3%\s+85\.7%\s+0\.737$/m);

    // Projection 1, chosen by default: an adapter and β = 0.25, beside the same heads without them.
    const chosen = JSON.parse(
      ldakit(["eval", "--queries", join(EXAMPLES, "eval-queries.json"), "--mh-id", "1", "--json"])
        .stdout,
    );
    expect(chosen.direct).toEqual(report.direct);
    expect(chosen.projected_without_adapter.recall_at_1).toBe(35 / 56);
    expect(chosen.projected_without_adapter.recall_at_5).toBe(47 / 56);
    expect(chosen.projected_without_adapter.mrr).toBeCloseTo(0.728, 3);
    expect(chosen.projected.recall_at_1).toBe(37 / 56);
    expect(chosen.projected.recall_at_5).toBe(46 / 56);
    expect(chosen.projected.mrr).toBeCloseTo(0.743, 3);
    const three = ldakit([
      "eval",
      "--queries",
      join(EXAMPLES, "eval-queries.json"),
      "--mh-id",
      "1",
    ]).stdout;
    expect(three).toMatch(/^projection 1 \(hash-384\), τ = 0\.1, adapter, β = 0\.25: 56 queries/m);
    expect(three).toMatch(/^direct\s+42\.9%\s+71\.4%\s+0\.573$/m);
    expect(three).toMatch(/^book \(no adapter, β = 1\)\s+62\.5%\s+83\.9%\s+0\.728$/m);
    expect(three).toMatch(/^trained\s+66\.1%\s+82\.1%\s+0\.743$/m);
  });

  it("names the bad line of a broken query file", () => {
    const bad = join(cwd, "bad.json");
    writeFileSync(bad, '{"clusters": [\n  {"id": "a", "queries": {"novel": ["q"]}},\n]}');
    const r = ldakit(["eval", "--queries", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json: JSON parse error at line 3, column 1/);
    // the file's bytes reach the reader: invalid UTF-8 is named, not read as U+FFFD
    const latin1 = join(cwd, "latin1.json");
    writeFileSync(
      latin1,
      Buffer.from('{"clusters": [{"id": "a", "queries": {"s": ["caf\xe9"]}}]}', "latin1"),
    );
    const r2 = ldakit(["eval", "--queries", latin1]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(
      /latin1\.json: JSON parse error at line 1, column 49: invalid UTF-8 at byte offset 48: byte 0xE9/,
    );
  });

  it("shows what the store holds", () => {
    const stats = JSON.parse(ldakit(["stats", "--json"]).stdout);
    expect(stats).toMatchObject({ clusters: 28, questions: 224, embeddings: 252, projections: 2 });
    expect(ldakit(["stats"]).stdout).toMatch(
      /28 clusters, 224 questions, 252 vectors, 2 projections/,
    );
  });
});
