/**
 * docs/FORMAT.md must not drift from the code. Its worked examples (§6.4, and §6.5 with an adapter
 * and a blend) are each a NumPy program and
 * the output printed under it: the program is run and must print exactly that output, and
 * @ldakit/search must reproduce every number of it that its API exposes, to the printed precision,
 * on each kernel. So editing a printed number, or changing the math, fails here.
 *
 * The blocks are found by the HTML comments `<!-- worked-example:script -->` (followed by a
 * ```python block) and `<!-- worked-example:output -->` (followed by a ```text block). Output
 * lines read `label = value`, the value a number or a `[...]` list of numbers.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PROJECTION_META_FORMATS, projectionMetaFormatFor } from "@ldakit/format";
import { describe, expect, it } from "vitest";
import { Projection, wasmKernelAvailable } from "../src/index.js";
import { PYTHON } from "./reference.js";

const repoFile = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const FORMAT_MD = repoFile("docs/FORMAT.md");
const doc = readFileSync(FORMAT_MD, "utf8");

/** The body of the fenced block of `language` that follows `<!-- marker -->`. */
function fencedBlockAfter(marker: string, language: string): string {
  const at = doc.indexOf(`<!-- ${marker} -->`);
  if (at < 0) throw new Error(`docs/FORMAT.md has no <!-- ${marker} --> marker`);
  const fence = new RegExp(`^\\s*\`\`\`${language}\\n([\\s\\S]*?)\\n\`\`\`$`, "m");
  const match = fence.exec(doc.slice(at + marker.length + 9));
  if (!match || match.index > 2) {
    throw new Error(
      `docs/FORMAT.md: <!-- ${marker} --> is not followed by a \`\`\`${language} block`,
    );
  }
  return match[1] as string;
}

interface Printed {
  /** label → the numbers printed after `=` (one for a scalar). */
  values: Map<string, number[]>;
  /** Digits after the decimal point of the printed floats: the precision to hold to. */
  decimals: number;
}

function parseOutput(text: string): Printed {
  const values = new Map<string, number[]>();
  const decimals = new Set<number>();
  for (const [n, line] of text.split("\n").entries()) {
    const eq = line.indexOf(" = ");
    if (eq < 0) throw new Error(`worked example output line ${n + 1} has no " = ": ${line}`);
    const label = line.slice(0, eq).trim();
    const raw = line.slice(eq + 3).trim();
    const items = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1).split(",") : [raw];
    const numbers = items.map((item) => {
      const t = item.trim();
      if (!/^-?\d+(\.\d+)?$/.test(t)) {
        throw new Error(
          `worked example output line ${n + 1}: ${JSON.stringify(t)} is not a number`,
        );
      }
      const dot = t.indexOf(".");
      if (dot >= 0) decimals.add(t.length - dot - 1);
      return Number(t);
    });
    if (values.has(label)) throw new Error(`worked example output prints "${label}" twice`);
    values.set(label, numbers);
  }
  expect([...decimals], "every float is printed with the same number of decimals").toHaveLength(1);
  return { values, decimals: [...decimals][0] as number };
}

const script = fencedBlockAfter("worked-example:script", "python");
const output = fencedBlockAfter("worked-example:output", "text");
const printed = parseOutput(output);

function get(label: string): number[] {
  const value = printed.values.get(label);
  if (!value) throw new Error(`the worked example output has no line "${label}"`);
  return value;
}
const scalar = (label: string) => get(label)[0] as number;

/**
 * Printed values are rounded to `decimals` places (half a unit of the last place) and ldakit
 * computes in float32 (about 1e-7 here): one unit of the last printed place holds both, and no
 * edited digit passes the exact comparison with NumPy's output.
 */
const TOLERANCE = 10 ** -printed.decimals;

function expectPrinted(label: string, actual: ArrayLike<number>): void {
  const expected = get(label);
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs((actual[i] as number) - (expected[i] as number));
    expect(diff, `${label}[${i}]: ldakit ${actual[i]}, printed ${expected[i]}`).toBeLessThanOrEqual(
      TOLERANCE,
    );
  }
}

describe("docs/FORMAT.md worked example", () => {
  it("is exactly what its NumPy program prints", () => {
    const run = spawnSync(PYTHON, ["-"], {
      input: script,
      encoding: "utf8",
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (run.error) {
      throw new Error(
        `cannot run ${PYTHON} (${run.error.message}); install python3 with NumPy (python3 -m pip install -r tools/requirements.txt) or set LDAKIT_PYTHON`,
      );
    }
    expect(run.stderr, "the example program's stderr").toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${output}\n`);
  });

  const heads = get("cluster_ids").length;
  const rows = (name: string) => Array.from({ length: heads }, (_, k) => get(`${name}[${k}]`));
  const clusterIds = get("cluster_ids");
  const query = get("q");
  const kernels = wasmKernelAvailable() ? (["js", "wasm"] as const) : (["js"] as const);

  for (const kernel of kernels) {
    describe(`@ldakit/search on the ${kernel} kernel`, () => {
      const projection = Projection.fromArrays({
        mhProjectionId: 1,
        model: "worked-example",
        temperature: scalar("tau"),
        clusterIds,
        centroids: rows("c"),
        answers: rows("a"),
        kernel,
        threads: 1,
      });
      const d = projection.dimensions;

      it("normalizes the stored vectors as printed", () => {
        expect(projection.kernel).toBe(kernel === "wasm" ? "wasm-simd" : "js");
        for (let k = 0; k < heads; k++) {
          expectPrinted(`c_hat[${k}]`, projection.centroids.subarray(k * d, (k + 1) * d));
          expectPrinted(`a_hat[${k}]`, projection.answers.subarray(k * d, (k + 1) * d));
        }
      });

      it("routes and projects the query as printed", () => {
        const { weights, projected } = projection.project(query);
        expectPrinted("w", weights);
        expectPrinted("p", projected);
      });

      it("ranks the answers as printed, ties by the smaller cluster id", () => {
        const { results, routing } = projection.search(query, { topK: heads, routingTop: heads });
        expect(results.map((r) => r.clusterId)).toEqual(get("ranking"));
        const scores = new Array<number>(heads);
        for (const r of results) scores[r.headIndex] = r.score;
        expectPrinted("cos(p, a)", scores);

        const w = get("w");
        const byWeight = [...clusterIds.keys()]
          .sort(
            (i, j) =>
              (w[j] as number) - (w[i] as number) ||
              (clusterIds[i] as number) - (clusterIds[j] as number),
          )
          .map((k) => clusterIds[k]);
        expect(routing.map((r) => r.clusterId)).toEqual(byWeight);
        const weights = new Array<number>(heads);
        for (const r of routing) weights[r.headIndex] = r.weight;
        expectPrinted("w", weights);

        const direct = projection.directSearch(query, { topK: heads }).results;
        expect(direct.map((r) => r.clusterId)).toEqual(get("direct ranking"));
        const directScores = new Array<number>(heads);
        for (const r of direct) directScores[r.headIndex] = r.score;
        expectPrinted("cos(q, a)", directScores);
      });
    });
  }
});

describe("docs/FORMAT.md §6.5 worked example with an adapter and a blend", () => {
  const script2 = fencedBlockAfter("worked-example-2:script", "python");
  const output2 = fencedBlockAfter("worked-example-2:output", "text");
  const printed2 = parseOutput(output2);
  const get2 = (label: string): number[] => {
    const value = printed2.values.get(label);
    if (!value) throw new Error(`the second worked example's output has no line "${label}"`);
    return value;
  };
  const tolerance = 10 ** -printed2.decimals;
  const expectPrinted2 = (label: string, actual: ArrayLike<number>) => {
    const expected = get2(label);
    expect(actual.length, label).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      const diff = Math.abs((actual[i] as number) - (expected[i] as number));
      expect(
        diff,
        `${label}[${i}]: ldakit ${actual[i]}, printed ${expected[i]}`,
      ).toBeLessThanOrEqual(tolerance);
    }
  };

  it("is exactly what its NumPy program prints", () => {
    const run = spawnSync(PYTHON, ["-"], {
      input: script2,
      encoding: "utf8",
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    if (run.error) throw new Error(`cannot run ${PYTHON} (${run.error.message})`);
    expect(run.stderr, "the example program's stderr").toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${output2}\n`);
  });

  it("uses the first example's heads and query, and a W that is not symmetric", () => {
    for (const label of [
      "tau",
      "cluster_ids",
      "q",
      "c[0]",
      "c[1]",
      "c[2]",
      "a[0]",
      "a[1]",
      "a[2]",
    ]) {
      expect(get2(label), label).toEqual(get(label));
    }
    const W = [0, 1, 2].map((i) => get2(`W[${i}]`));
    const symmetric = W.every((row, i) => row.every((v, j) => v === W[j]?.[i]));
    expect(symmetric).toBe(false);
    expect(get2("beta")[0]).toBeGreaterThan(0);
    expect(get2("beta")[0]).toBeLessThan(1);
  });

  const kernels = wasmKernelAvailable() ? (["js", "wasm"] as const) : (["js"] as const);
  for (const kernel of kernels) {
    it(`@ldakit/search on the ${kernel} kernel routes, blends and ranks as printed`, () => {
      const clusterIds = get2("cluster_ids");
      const heads = clusterIds.length;
      const rows = (name: string) => Array.from({ length: heads }, (_, k) => get2(`${name}[${k}]`));
      const projection = Projection.fromArrays({
        mhProjectionId: 1,
        model: "worked-example",
        temperature: get2("tau")[0] as number,
        clusterIds,
        centroids: rows("c"),
        answers: rows("a"),
        adapter: [0, 1, 2].map((i) => get2(`W[${i}]`)),
        blend: get2("beta")[0] as number,
        kernel,
        threads: 1,
      });
      const query = get2("q");
      const { weights, projected } = projection.project(query);
      expectPrinted2("w", weights);
      expectPrinted2("b_hat", projected);
      const { results, routing } = projection.search(query, { topK: heads, routingTop: heads });
      expect(results.map((r) => r.clusterId)).toEqual(get2("ranking"));
      const scores = new Array<number>(heads);
      for (const r of results) scores[r.headIndex] = r.score;
      expectPrinted2("cos(b, a)", scores);
      const routed = new Array<number>(heads);
      for (const r of routing) routed[r.headIndex] = r.weight;
      expectPrinted2("w", routed);
      const direct = projection.directSearch(query, { topK: heads }).results;
      expect(direct.map((r) => r.clusterId)).toEqual(get2("direct ranking"));
    });
  }
});

describe("docs/FORMAT.md §6.2 edge cases", () => {
  for (const kernel of wasmKernelAvailable() ? (["js", "wasm"] as const) : (["js"] as const)) {
    it(`weighted answers that cancel give p = 0, score 0 and the cluster-id order (${kernel})`, () => {
      // equal centroids route half to each head; their answers are opposite
      const projection = Projection.fromArrays({
        mhProjectionId: 1,
        model: "edge-cases",
        temperature: 0.1,
        clusterIds: [8, 3],
        centroids: [
          [1, 0],
          [1, 0],
        ],
        answers: [
          [0, 1],
          [0, -1],
        ],
        kernel,
        threads: 1,
      });
      const { weights, projected } = projection.project([1, 0.5]);
      expect([...weights]).toEqual([0.5, 0.5]);
      expect([...projected]).toEqual([0, 0]);
      const { results } = projection.search([1, 0.5], { topK: 2 });
      expect(results.map((r) => [r.clusterId, r.score])).toEqual([
        [3, 0],
        [8, 0],
      ]);
    });

    it(`a query of zeros, NaN or infinity is refused (${kernel})`, () => {
      const projection = Projection.fromArrays({
        mhProjectionId: 1,
        model: "edge-cases",
        temperature: 0.1,
        clusterIds: [1],
        centroids: [[1, 0]],
        answers: [[0, 1]],
        kernel,
        threads: 1,
      });
      expect(() => projection.search([0, 0])).toThrow(
        expect.objectContaining({ code: "ZERO_VECTOR" }),
      );
      expect(() => projection.search([Number.NaN, 1])).toThrow(
        expect.objectContaining({ code: "NOT_FINITE" }),
      );
      expect(() => projection.search([1, Number.POSITIVE_INFINITY])).toThrow(
        expect.objectContaining({ code: "NOT_FINITE" }),
      );
    });
  }
});

describe("docs/FORMAT.md versions", () => {
  /** The value of a row of the table at the top of FORMAT.md, in backquotes. */
  function headerValue(row: string): string {
    const match = new RegExp(`^\\| ${row} \\| \`([^\`]+)\``, "m").exec(doc);
    if (!match) throw new Error(`docs/FORMAT.md's version table has no "${row}" row`);
    return match[1] as string;
  }

  it("names the file-set version that the fixtures' mh_<id>.json files carry", () => {
    const manifest = JSON.parse(readFileSync(repoFile("fixtures/manifest.json"), "utf8")) as {
      cases: Array<{ kind: string; root?: string; model_folder?: string; mh_id?: number }>;
    };
    const trees = manifest.cases.filter((c) => c.kind === "heads");
    expect(trees.length).toBeGreaterThan(0);
    const fileSet = headerValue("File-set version");
    // the header names the newest edition; each file carries the edition its content needs
    expect(fileSet).toBe(PROJECTION_META_FORMATS[PROJECTION_META_FORMATS.length - 1]);
    for (const c of trees) {
      const path = repoFile(`fixtures/${c.root}/embeddings/${c.model_folder}/mh_${c.mh_id}.json`);
      expect(existsSync(path), path).toBe(true);
      const meta = JSON.parse(readFileSync(path, "utf8")) as {
        format: unknown;
        adapter?: unknown;
        blend?: number;
      };
      expect(meta.format, path).toBe(projectionMetaFormatFor(meta));
    }
  });

  it("documents every migration of @ldakit/schema, and names the newest it documents", () => {
    const source = readFileSync(repoFile("packages/schema/src/migrations.ts"), "utf8");
    const list = /MIGRATION_NAMES = \[([^\]]*)\]/.exec(source);
    if (!list) throw new Error("packages/schema/src/migrations.ts has no MIGRATION_NAMES list");
    const inCode = [...(list[1] as string).matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
    expect(inCode.length).toBeGreaterThan(0);
    const section = doc.slice(doc.indexOf("### 5.2"), doc.indexOf("### 5.3"));
    const inDoc = [...section.matchAll(/^\| `([0-9]{3}_[a-z0-9_]+)` \|/gm)].map((m) => m[1]);
    for (const name of inCode) expect(inDoc, `migration ${name} in FORMAT.md §5.2`).toContain(name);
    expect(headerValue("Database schema version")).toBe(inDoc[inDoc.length - 1]);
  });
});
