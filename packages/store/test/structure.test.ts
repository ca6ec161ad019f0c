// How the package is put together, checked on its sources and on the declarations it publishes:
// the modules form no import cycle and only the entry point imports `LDAProjectionDB`'s module;
// the published class has one calling convention and shows nothing internal.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PACKAGE = resolve(import.meta.dirname, "..");
const SRC = join(PACKAGE, "src");

/** Every relative import of every module under src/ (static, `export … from` and `import()`), by module. */
function importGraph(): Map<string, string[]> {
  const files = (readdirSync(SRC, { recursive: true }) as string[])
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.split("\\").join("/"));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(SRC, file), "utf8");
    const targets = [
      ...text.matchAll(/\bfrom\s+"(\.[^"]+)"/g),
      ...text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g),
    ].map((m) => {
      const target = relative(SRC, join(SRC, dirname(file), m[1] as string))
        .split("\\")
        .join("/");
      return target.replace(/\.js$/, ".ts");
    });
    for (const target of targets) expect(files, `${file} imports ${target}`).toContain(target);
    graph.set(file, targets);
  }
  return graph;
}

/** One import cycle of the graph as a path `a → b → … → a`, or undefined when it has none. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "visiting") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "visiting");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("the modules of @ldakit/store", () => {
  it("import one another without a cycle, type-only imports included", () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(10);
    expect(findCycle(graph)?.join(" → ")).toBeUndefined();
  });

  it("finds a cycle where there is one (the check above can fail)", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(findCycle(graph)).toEqual(["a.ts", "b.ts", "c.ts", "a.ts"]);
    expect(findCycle(new Map([["a.ts", ["b.ts"]]]))).toBeUndefined();
  });

  it("work on a store context: only the entry point imports LDAProjectionDB's module", () => {
    const importers = [...importGraph()]
      .filter(([, targets]) => targets.includes("db.ts"))
      .map(([file]) => file);
    expect(importers).toEqual(["index.ts"]);
  });
});

/** Emits the declarations `tsc -p tsconfig.build.json` builds into `dir`. */
function emitDeclarations(dir: string): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const run = spawnSync(
    process.execPath,
    [
      tsc,
      "-p",
      "tsconfig.build.json",
      "--emitDeclarationOnly",
      "--declarationMap",
      "false",
      "--outDir",
      dir,
    ],
    { cwd: PACKAGE, encoding: "utf8" },
  );
  expect(run.status, run.stdout + run.stderr).toBe(0);
}

describe("the published declarations", () => {
  let dir: string;
  let db: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ldakit-store-dts-"));
    emitDeclarations(dir);
    db = readFileSync(join(dir, "db.d.ts"), "utf8");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("carry no @internal member (the build strips them)", () => {
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) =>
      f.endsWith(".d.ts"),
    );
    expect(files).toContain("index.d.ts");
    for (const file of files) {
      expect(readFileSync(join(dir, file), "utf8"), file).not.toContain("@internal");
    }
  });

  it("give LDAProjectionDB one convention: every public method returns a Promise", () => {
    const source = ts.createSourceFile("db.d.ts", db, ts.ScriptTarget.ES2022, true);
    const cls = source.statements.find(
      (s): s is ts.ClassDeclaration =>
        ts.isClassDeclaration(s) && s.name?.text === "LDAProjectionDB",
    );
    expect(cls).toBeDefined();
    const isPrivate = (m: ts.ClassElement) =>
      ts.canHaveModifiers(m) &&
      (ts.getModifiers(m) ?? []).some((x) => x.kind === ts.SyntaxKind.PrivateKeyword);
    const methods = new Map<string, string>();
    const properties: string[] = [];
    for (const member of cls?.members ?? []) {
      if (isPrivate(member) || !member.name) continue;
      const name = member.name.getText(source);
      if (ts.isMethodDeclaration(member)) methods.set(name, member.type?.getText(source) ?? "");
      else if (ts.isPropertyDeclaration(member)) properties.push(name);
      else if (!ts.isConstructorDeclaration(member)) properties.push(`${name} (accessor)`);
    }
    expect(properties.sort()).toEqual([
      "backend",
      "busyTimeoutMs",
      "kysely",
      "migratedOnOpen (accessor)",
      "mode",
      "path",
      "root",
      "sqlite (accessor)",
      "vectors",
    ]);
    expect([...methods.keys()].sort()).toEqual(
      [
        "open",
        "getOrCreateModel",
        "getModel",
        "listModels",
        "addCluster",
        "addQuestion",
        "storeEmbedding",
        "getEmbedding",
        "listClusters",
        "getCluster",
        "stats",
        "scan",
        "processPending",
        "retryFailed",
        "listBatches",
        "batchHistory",
        "loadTrainingSet",
        "createProjection",
        "loadProjection",
        "latestProjectionId",
        "searchWithProjection",
        "directSearch",
        "verify",
        "repair",
        "close",
      ].sort(),
    );
    for (const [name, type] of methods) expect(type, name).toMatch(/^Promise<.*>$/s);
  });

  it("keep the store context out of the public face", () => {
    // The private field is declared without its type, so the context's interface is not published.
    expect(db).toMatch(/private readonly context;/);
    expect(db).not.toMatch(/StoreContext|SyncSql|ensureModel|modelById|upsertEmbedding/);
    const index = readFileSync(join(dir, "index.d.ts"), "utf8");
    expect(index).not.toMatch(/context|StoreContext/);
  });
});
