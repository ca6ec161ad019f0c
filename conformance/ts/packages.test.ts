// Packages as users get them (issue 7, part 6). Every publishable package (packages/*, not
// private) is packed with `pnpm pack` (which rewrites workspace:^ ranges to real versions) and
// the tarballs are installed together with npm into a fresh project in the OS temp folder —
// away from the workspace's node_modules, so a package that only works inside the monorepo
// (a dependency it does not declare, a file it does not ship, an export that points at src/)
// fails here. Then: each public entry point is imported from plain Node ESM, the `ldakit` CLI
// runs from the installed package, a TypeScript consumer is type-checked against the installed
// declarations, and @arethetypeswrong/cli checks each tarball.
//
// Profile of attw: `esm-only`. The packages are ESM only by design ("type": "module", exports
// with "types" + "default" and no CommonJS build), so the node10 and node16-from-CJS
// resolutions (`require`) are not meant to work; every ESM resolution (node16-from-ESM,
// bundler) must be clean. (`--profile node16` would still report CJSResolvesToESM.)
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec, execOk } from "./exec.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const require = createRequire(import.meta.url);
const TSC = require.resolve("typescript/bin/tsc");
const ATTW = join(REPO, "conformance", "node_modules", ".bin", "attw");

interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  bin?: Record<string, string>;
}

/** Names each entry point must export (a few of the public API). */
const EXPECTED_EXPORTS: Record<string, string[]> = {
  "@ldakit/npy": ["readNpy", "readNpySync", "writeNpy", "decodeNpy", "encodeNpy", "NpyError"],
  "@ldakit/npy/codec": ["decodeNpy", "encodeNpy", "NpyError", "toCOrder"],
  "@ldakit/format": [
    "parseEmbeddingFileName",
    "validateProjectionMeta",
    "modelEmbeddingsDir",
    "modelFolderName",
    "FormatError",
  ],
  "@ldakit/schema": ["migrateLdakitDatabase", "validateRawData", "modelNameSchema"],
  "@ldakit/search": ["loadProjection", "discoverProjections", "Projection", "SearchError"],
  "@ldakit/search/core": ["Projection", "SearchError"],
  "@ldakit/embed": ["createHashEmbedder", "resolveEmbedder"],
  "@ldakit/tf": ["getTf"],
  "@ldakit/store": ["LDAProjectionDB", "VectorFiles", "StoreError"],
  "@ldakit/train": ["trainProjection", "computeCentroids", "TrainError"],
  ldakit: ["runCli", "buildProgram"],
};

/**
 * Type errors in the packed declarations that are known and tolerated here, each with why;
 * an entry that no longer occurs fails the test (remove it then), as expected-failures do.
 */
const KNOWN_TYPE_ERRORS: Array<{ file: string; code: string; reason: string }> = [];

const packages: Array<{ dir: string; json: PackageJson }> = readdirSync(join(REPO, "packages"))
  .filter((name) => existsSync(join(REPO, "packages", name, "package.json")))
  .map((name) => ({
    dir: join(REPO, "packages", name),
    json: JSON.parse(readFileSync(join(REPO, "packages", name, "package.json"), "utf8")),
  }))
  .filter((p) => !p.json.private)
  .sort((a, b) => (a.json.name < b.json.name ? -1 : 1));

/** Every entry point of a package: its name plus each subpath export (not ./package.json). */
function entryPoints(json: PackageJson): string[] {
  const subpaths = Object.keys(json.exports ?? { ".": null }).filter(
    (s) => s !== "./package.json" && !s.includes("*"),
  );
  return subpaths.map((s) => (s === "." ? json.name : `${json.name}/${s.slice(2)}`));
}

let work: string;
let consumer: string;
const tarballs = new Map<string, string>();

// npm as a user has it, without the workspace: no lockfile of ours, no audit/fund chatter.
const npmEnv = {
  ...process.env,
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
};
for (const key of Object.keys(npmEnv)) {
  // pnpm passes its own npm_config_* settings down to scripts; a user's npm has none of them.
  if (
    key.startsWith("npm_config_") &&
    !["npm_config_audit", "npm_config_fund", "npm_config_update_notifier"].includes(key)
  )
    delete (npmEnv as Record<string, string | undefined>)[key];
}

beforeAll(async () => {
  expect(packages.length).toBeGreaterThan(0);
  work = mkdtempSync(join(tmpdir(), "ldakit-packed-"));
  const out = join(work, "tarballs");
  mkdirSync(out);
  for (const { dir, json } of packages) {
    if (!existsSync(join(dir, "dist"))) {
      throw new Error(`${json.name} is not built (no ${dir}/dist): run pnpm build first`);
    }
    const before = new Set(readdirSync(out));
    await execOk("pnpm", ["pack", "--pack-destination", out], { cwd: dir });
    const made = readdirSync(out).filter((f) => !before.has(f) && f.endsWith(".tgz"));
    expect(made, `pnpm pack of ${json.name}`).toHaveLength(1);
    tarballs.set(json.name, join(out, made[0] as string));
  }

  consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(
    join(consumer, "package.json"),
    `${JSON.stringify({ name: "ldakit-consumer", version: "1.0.0", private: true, type: "module" }, null, 2)}\n`,
  );
  // The ldakit packages are not on the registry, so all their tarballs install together (each
  // satisfies the others' ^0.1.0); everything else comes from the registry. better-sqlite3
  // compiles from source here (a minute or two).
  await execOk("npm", ["install", ...tarballs.values(), "@types/node@^20"], {
    cwd: consumer,
    env: npmEnv,
  });
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("packages as users get them (pnpm pack → npm install outside the workspace)", () => {
  it("packs every publishable package with real version ranges", () => {
    expect([...tarballs.keys()]).toEqual(packages.map((p) => p.json.name));
    for (const { json } of packages) {
      const installed: PackageJson = JSON.parse(
        readFileSync(join(consumer, "node_modules", json.name, "package.json"), "utf8"),
      );
      expect(installed.version).toBe(json.version);
      for (const [dep, range] of Object.entries(installed.dependencies ?? {})) {
        expect(range, `${json.name} → ${dep}`).not.toMatch(/^workspace:/);
      }
    }
  });

  for (const { json } of packages) {
    for (const entry of entryPoints(json)) {
      it(`imports ${entry} from plain Node ESM`, async () => {
        const names = EXPECTED_EXPORTS[entry] ?? [];
        const script = [
          `const m = await import(${JSON.stringify(entry)});`,
          `const want = ${JSON.stringify(names)};`,
          "const missing = want.filter((n) => m[n] === undefined);",
          `if (missing.length) throw new Error("missing exports: " + missing.join(", "));`,
          `if (Object.keys(m).length === 0) throw new Error("no exports");`,
          "console.log(Object.keys(m).length);",
        ].join("\n");
        const run = await exec(process.execPath, ["--input-type=module", "-e", script], {
          cwd: consumer,
        });
        expect(run.stderr, `import ${entry}`).toBe("");
        expect(run.code).toBe(0);
        expect(Number(run.stdout.trim())).toBeGreaterThanOrEqual(names.length);
      });
    }
  }

  it("works: npy round trip, a projection from arrays, a store with vectors", async () => {
    const script = `
      import { mkdtempSync } from "node:fs";
      import { tmpdir } from "node:os";
      import { join } from "node:path";
      import { decodeNpy, encodeNpy } from "@ldakit/npy";
      import { Projection } from "@ldakit/search";
      import { createHashEmbedder } from "@ldakit/embed";
      import { LDAProjectionDB } from "@ldakit/store";
      const back = decodeNpy(encodeNpy({ data: new Float32Array([1, 2, 3]), shape: [3] }));
      if (back.data[2] !== 3) throw new Error("npy round trip");
      const p = Projection.fromArrays({ mhProjectionId: 1, model: "m", temperature: 0.1,
        clusterIds: [4, 9], centroids: [[1, 0], [0, 1]], answers: [[1, 0], [0, 1]] });
      if (p.search([0, 1], { topK: 1 }).results[0].clusterId !== 9) throw new Error("search");
      const db = await LDAProjectionDB.open(join(mkdtempSync(join(tmpdir(), "ldakit-c-")), "lda.db"));
      const model = await db.getOrCreateModel("hash-16", { dimensions: 16 });
      const [v] = await createHashEmbedder(16).embed(["hello"]);
      const cluster = await db.addCluster({ answerText: "hi", modelId: model.model_id });
      await db.storeEmbedding({ entityType: "answer", entityId: cluster, modelId: model.model_id, vector: v });
      const got = await db.getEmbedding("answer", cluster, model.model_id);
      if (got.length !== 16) throw new Error("store");
      await db.close();
      console.log("ok");
    `;
    const run = await exec(process.execPath, ["--input-type=module", "-e", script], {
      cwd: consumer,
    });
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("ok");
  });

  it("runs the installed ldakit command: migrate, train, search", async () => {
    const bin = join(consumer, "node_modules", ".bin", "ldakit");
    expect(existsSync(bin)).toBe(true);
    const raw = join(work, "raw");
    mkdirSync(raw);
    writeFileSync(
      join(raw, "tea.json"),
      JSON.stringify({
        clusters: ["green", "black", "white", "oolong"].map((tea, c) => ({
          answer: `Steep ${tea} tea for ${c + 2} minutes.`,
          answer_id: tea,
          questions: [`How long do I steep ${tea} tea?`, `${tea} tea brewing time`],
        })),
      }),
    );
    const store = join(work, "store");
    mkdirSync(store);
    await execOk(bin, ["migrate", "--scan", "--input", raw, "--process-pending"], { cwd: store });
    await execOk(bin, ["train", "--temperature", "0.1"], { cwd: store });
    const help = await execOk(bin, ["--help"], { cwd: store });
    if (/^\s+search\b/m.test(help)) {
      const found = JSON.parse(
        await execOk(bin, ["--json", "search", "how long for oolong tea?", "--top-k", "1"], {
          cwd: store,
        }),
      );
      expect(JSON.stringify(found)).toMatch(/oolong/i);
    }
  });

  it("type-checks a TypeScript consumer (NodeNext) against the installed declarations", async () => {
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2023"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
        },
        files: ["consumer.ts"],
      }),
    );
    writeFileSync(join(consumer, "consumer.ts"), CONSUMER_TS);
    const run = await exec(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: consumer });
    const errors = run.stdout
      .split("\n")
      .map((line) => /^(.+?)\(\d+,\d+\): error (TS\d+): /.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ file: m[1] as string, code: m[2] as string }));
    expect(run.stderr, "tsc").toBe("");
    if (run.code !== 0)
      expect(errors.length, `tsc failed without errors: ${run.stdout}`).toBeGreaterThan(0);
    // Errors in third-party declarations (tfjs-core and @webgpu/types want the DOM library)
    // are theirs; ours — the consumer and every ldakit package — must be clean. (With
    // skipLibCheck, the usual setting, only the consumer's own errors would show.)
    const ours = errors.filter(
      (e) =>
        !e.file.startsWith("node_modules/") || /^node_modules\/(@ldakit\/|ldakit\/)/.test(e.file),
    );
    const known = (e: { file: string; code: string }) =>
      KNOWN_TYPE_ERRORS.some((k) => k.file === e.file && k.code === e.code);
    expect(
      ours.filter((e) => !known(e)),
      run.stdout,
    ).toEqual([]);
    const stale = KNOWN_TYPE_ERRORS.filter(
      (k) => !ours.some((e) => e.file === k.file && e.code === k.code),
    );
    expect(stale, "KNOWN_TYPE_ERRORS entries that no longer occur: remove them").toEqual([]);
  });

  for (const { json } of packages) {
    it(`attw --profile esm-only: ${json.name}`, async () => {
      const tarball = tarballs.get(json.name) as string;
      const run = await exec(ATTW, [tarball, "--profile", "esm-only", "--format", "json"], {
        cwd: work,
      });
      const report = JSON.parse(run.stdout) as {
        analysis?: {
          problems?: Array<{ kind: string; entrypoint: string; resolutionKind?: string }>;
        };
      };
      // The report lists every resolution; the esm-only profile ignores these two (require).
      const ignored = new Set(["node10", "node16-cjs"]);
      const problems = (report.analysis?.problems ?? []).filter(
        (p) => !ignored.has(p.resolutionKind ?? ""),
      );
      expect(problems).toEqual([]);
      expect(report.analysis?.problems, "attw analysed the package").toBeDefined();
      expect(run.code).toBe(0);
    });
  }
});

/** A small consumer of every package's public types. */
const CONSUMER_TS = `
import { decodeNpy, encodeNpy, type NpyArray, NpyError, readNpy } from "@ldakit/npy";
import { decodeNpy as decodeBytes } from "@ldakit/npy/codec";
import { FormatError, parseEmbeddingFileName, type ProjectionMeta, validateProjectionMeta } from "@ldakit/format";
import { type Database } from "@ldakit/schema";
import { loadProjection, Projection, type SearchHit } from "@ldakit/search";
import { Projection as CoreProjection } from "@ldakit/search/core";
import { createHashEmbedder, type Embedder } from "@ldakit/embed";
import { LDAProjectionDB, StoreError } from "@ldakit/store";
import { getTf } from "@ldakit/tf";
import { TrainError, trainProjection } from "@ldakit/train";
import { runCli } from "ldakit";

const bytes: Uint8Array = encodeNpy({ data: new Float32Array([1, 2, 3]), shape: [3] });
const array: NpyArray = decodeNpy(bytes);
const again: NpyArray = decodeBytes(bytes);
const shape: number[] = array.shape;
export async function use(): Promise<void> {
  try {
    await readNpy("x.npy");
  } catch (error) {
    if (error instanceof NpyError) console.log(error.code);
  }
  const embedder: Embedder = createHashEmbedder(32);
  const [vector] = await embedder.embed(["hello"]);
  const projection: Projection = await loadProjection({ dir: "store/embeddings/hash-32", mhProjectionId: 1 });
  const hits: SearchHit[] = projection.search(vector ?? new Float32Array(32), { topK: 3 }).results;
  console.log(hits.map((h) => h.clusterId + h.score), again.dtype, shape);
  const fromArrays: CoreProjection = CoreProjection.fromArrays({
    mhProjectionId: 1, model: "m", temperature: 0.1, clusterIds: [1], centroids: [[1, 0]], answers: [[0, 1]],
  });
  console.log(fromArrays.numHeads);
  // Projections come from fromArrays or loadProjection only; the declarations must keep it so.
  // @ts-expect-error the constructor is private
  console.log(new Projection());
  let meta: ProjectionMeta | undefined;
  try {
    meta = validateProjectionMeta({}, "mh_1.json");
  } catch (error) {
    if (error instanceof FormatError) console.log(error.code, error.problems.length);
  }
  const parsed = parseEmbeddingFileName("q_001.npy");
  if (parsed?.kind === "question") console.log(parsed.questionId, meta?.cluster_ids);
  const db: LDAProjectionDB = await LDAProjectionDB.open("lda.db");
  const rows = await db.kysely.selectFrom("models").select(["name", "dimensions"]).execute();
  console.log(rows.map((r) => r.name.length + r.dimensions), db.root);
  const found = await db.searchWithProjection(vector ?? new Float32Array(32), 1, { topK: 2 });
  console.log(found.mhProjectionId, found.results.map((h) => h.clusterId + h.answerText + h.score));
  try {
    await db.loadTrainingSet("hash-32");
  } catch (error) {
    if (error instanceof StoreError) console.log(error.code === "MODEL_NOT_FOUND");
  }
  await db.close();
  const tf = await getTf();
  console.log(tf, typeof trainProjection, TrainError.name);
  const code: number = await runCli(["--help"]);
  const table: keyof Database = "models";
  console.log(code, table);
}
`;
