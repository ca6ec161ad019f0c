/**
 * The convention against the conformance fixtures: every file of every head tree under fixtures/
 * is a name of the format and stands for what fixtures/manifest.json says is there, and every
 * name of the manifest's model-name table has the folder (or the refusal) the table gives.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  EMBEDDINGS_DIR,
  embeddingFileName,
  modelEmbeddingsDir,
  modelFolderName,
  modelNameProblem,
  parseEmbeddingFileName,
  projectionMetaFileName,
  validateProjectionMeta,
} from "../src/index.js";
import { REPO } from "./helpers.js";

interface HeadsCase {
  name: string;
  kind: "heads";
  root: string;
  mh_id: number;
  model: string;
  model_folder: string;
  dimensions: number;
  temperature: number;
  num_heads: number;
  discover: Array<{ mh_id: number; model: string; model_folder: string }>;
}

interface ModelNameCase {
  case: string;
  name: string;
  folder?: string;
  error?: true;
  why?: string;
}

const manifest = JSON.parse(readFileSync(`${REPO}fixtures/manifest.json`, "utf8")) as {
  cases: Array<{ kind: string }>;
  model_names: ModelNameCase[];
};
const headCases = manifest.cases.filter((c): c is HeadsCase => c.kind === "heads");
const roots = [...new Set(headCases.map((c) => c.root))];

describe("the fixture head trees", () => {
  it("are there (10 cases in 9 trees)", () => {
    expect(headCases).toHaveLength(10);
    expect(roots).toHaveLength(9);
  });

  it.each(roots)("%s: every file under embeddings/ is a name of the format", (root) => {
    const cases = headCases.filter((c) => c.root === root);
    const discover = cases[0]?.discover ?? [];
    for (const c of cases) expect(c.discover).toEqual(discover); // one listing per tree

    // the model folders are exactly those of the manifest, named by the rule
    const base = `${REPO}fixtures/${root}/${EMBEDDINGS_DIR}`;
    const folders = readdirSync(base).sort();
    expect(folders).toEqual([...new Set(discover.map((d) => d.model_folder))].sort());
    for (const d of discover) {
      expect(modelFolderName(d.model)).toBe(d.model_folder);
      expect(modelEmbeddingsDir(d.model)).toBe(`${EMBEDDINGS_DIR}/${d.model_folder}`);
    }

    for (const folder of folders) {
      const names = readdirSync(`${base}/${folder}`);
      const metaIds: number[] = [];
      const headFiles = new Set<string>();
      const adapters = new Set<string>();
      for (const name of names) {
        expect(statSync(`${base}/${folder}/${name}`).isFile(), name).toBe(true);
        const parsed = parseEmbeddingFileName(name);
        expect(parsed, `${root}/${folder}/${name}`).not.toBeNull();
        if (parsed === null) continue;
        expect(embeddingFileName(parsed)).toBe(name);
        if (parsed.kind === "projection-meta") metaIds.push(parsed.mhProjectionId);
        else if (parsed.kind === "projection-adapter") adapters.add(name);
        else if (parsed.kind === "head-centroid" || parsed.kind === "head-answer") {
          headFiles.add(`${parsed.mhProjectionId}/${parsed.clusterId}/${parsed.kind}`);
        } else {
          throw new Error(`${name}: head trees hold no question or answer vectors`);
        }
      }

      // the projections are those the manifest lists for this folder
      const expected = discover.filter((d) => d.model_folder === folder);
      expect(metaIds.sort((a, b) => a - b)).toEqual(
        expected.map((d) => d.mh_id).sort((a, b) => a - b),
      );

      // each mh_<id>.json is valid, agrees with the manifest, and names exactly the head files
      const listed = new Set<string>();
      const namedAdapters = new Set<string>();
      for (const { mh_id, model } of expected) {
        const path = `${root}/${EMBEDDINGS_DIR}/${folder}/${projectionMetaFileName(mh_id)}`;
        const meta = validateProjectionMeta(
          JSON.parse(readFileSync(`${REPO}fixtures/${path}`, "utf8")),
          path,
        );
        expect(meta.mh_projection_id).toBe(mh_id);
        expect(meta.model).toBe(model);
        const c = cases.find((x) => x.mh_id === mh_id);
        if (c !== undefined) {
          expect(meta.model).toBe(c.model);
          expect(meta.dimensions).toBe(c.dimensions);
          expect(meta.temperature).toBe(c.temperature);
          expect(meta.num_heads).toBe(c.num_heads);
        }
        if (meta.adapter !== undefined && meta.adapter !== null) namedAdapters.add(meta.adapter);
        for (const cid of meta.cluster_ids) {
          listed.add(`${mh_id}/${cid}/head-centroid`);
          listed.add(`${mh_id}/${cid}/head-answer`);
        }
      }
      expect([...headFiles].sort()).toEqual([...listed].sort());
      // an adapter file is there exactly when a projection's metadata names it
      expect([...adapters].sort()).toEqual([...namedAdapters].sort());
    }
  });
});

describe("the manifest's model-name table", () => {
  const table = manifest.model_names;

  it("has valid and refused names", () => {
    expect(table.filter((c) => c.error).length).toBeGreaterThanOrEqual(20);
    expect(table.filter((c) => !c.error).length).toBeGreaterThanOrEqual(15);
  });

  it.each(table.map((c) => [c.case, c] as const))("%s", (_, c) => {
    if (!c.error) {
      expect(modelNameProblem(c.name)).toBeNull();
      expect(modelFolderName(c.name)).toBe(c.folder);
      return;
    }
    const problem = modelNameProblem(c.name);
    expect(problem, c.why).not.toBeNull();
    expect(() => modelFolderName(c.name)).toThrow(
      expect.objectContaining({ code: "INVALID_MODEL_NAME" }),
    );
    // where the table names the character, the message names the same code point and position
    const where = /\((U\+[0-9A-F]{4,6})\) at position (\d+)/.exec(c.why ?? "");
    if (where) expect(problem).toContain(`(${where[1]}) at position ${where[2]}`);
  });
});
