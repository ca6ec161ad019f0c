/**
 * The documents say what the code does: the README shows the grammar exactly as exported, and
 * the examples of docs/FORMAT.md (model folders, file names, an `mh_<id>.json`) hold here.
 */
import { describe, expect, it } from "vitest";
import {
  EMBEDDING_FILE_ABNF,
  EMBEDDING_FILE_PATTERNS,
  type EmbeddingFileName,
  isTemporaryFileName,
  modelFolderName,
  modelNameProblem,
  parseEmbeddingFileName,
  projectionMetaPath,
  validateProjectionMeta,
} from "../src/index.js";
import { readRepoFile } from "./helpers.js";

/** The fenced blocks of one language in `markdown`, in order. */
function blocks(markdown: string, language: string): string[] {
  const fence = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, "gm");
  return [...markdown.matchAll(fence)].map((m) => m[1] as string);
}

/** The text of a section of `markdown`, from its heading to the next heading of that level or above. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = heading.split(" ")[0] as string;
  const rest = markdown.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`^#{1,${level.length}} `, "m"));
  return next < 0 ? rest : rest.slice(0, next);
}

/** The rows of the Markdown tables in `text`, header and rule lines left out, cells trimmed. */
function tableRows(text: string): string[][] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

/** The code spans of a table cell. */
const codes = (cell: string): string[] =>
  [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);

describe("packages/format/README.md", () => {
  const readme = readRepoFile("packages/format/README.md");

  it("shows the grammar as EMBEDDING_FILE_ABNF and EMBEDDING_FILE_PATTERNS have it", () => {
    expect(blocks(readme, "abnf")).toEqual([EMBEDDING_FILE_ABNF]);
    const rows = [...readme.matchAll(/^\| `([a-z-]+)` +\| `(\^.*\$)` +\|$/gm)].map((m) => [
      m[1],
      (m[2] as string).replaceAll("\\|", "|"),
    ]);
    expect(rows).toEqual(
      Object.entries(EMBEDDING_FILE_PATTERNS).map(([kind, pattern]) => [kind, pattern.source]),
    );
  });
});

describe("docs/FORMAT.md", () => {
  const format = readRepoFile("docs/FORMAT.md");

  it("§2.1: the file-name grammar is EMBEDDING_FILE_ABNF, character for character", () => {
    const grammar = blocks(section(format, "### 2.1 Grammar"), "abnf");
    expect(grammar).toHaveLength(2);
    expect(grammar[1]).toBe(EMBEDDING_FILE_ABNF);
  });

  it("§1.3: every name and folder of the table", () => {
    const rows = tableRows(section(format, "### 1.3 Model names and model folders")).slice(1);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    let refused = 0;
    for (const [names = "", folder = ""] of rows) {
      if (folder === "refused") {
        for (const name of codes(names)) {
          expect(modelNameProblem(name), name).not.toBeNull();
          refused++;
        }
      } else {
        const [name] = codes(names);
        expect(modelFolderName(name as string)).toBe(codes(folder)[0]);
      }
    }
    expect(refused).toBeGreaterThanOrEqual(5);
  });

  it("§2.2: every example name means what the table says", () => {
    const rows = tableRows(section(format, "### 2.2 What each file holds"));
    const examples = rows.slice(rows.findIndex(([first]) => first === "name") + 1);
    expect(examples.length).toBeGreaterThanOrEqual(8);
    for (const [names = "", meaning = ""] of examples) {
      for (const name of codes(names)) {
        const parsed = parseEmbeddingFileName(name);
        if (meaning === "not names of the format") {
          expect(parsed, name).toBeNull();
          expect(isTemporaryFileName(name), name).toBe(false);
        } else if (meaning.startsWith("temporary files")) {
          expect(parsed, name).toBeNull();
          expect(isTemporaryFileName(name), name).toBe(true);
        } else {
          expect(parsed, `${name}: ${meaning}`).toEqual(meant(meaning));
        }
      }
    }
  });

  it("§4.2: the example mh_<id>.json is valid and lies at its canonical path", () => {
    const part = section(format, "### 4.2 Example");
    const [json] = blocks(part, "json");
    const path = /^`(embeddings\/[^`]+)`:$/m.exec(part)?.[1];
    const meta = validateProjectionMeta(JSON.parse(json as string), path);
    expect(projectionMetaPath(meta.model, meta.mh_projection_id)).toBe(path);
  });
});

/** What a meaning in FORMAT.md §2.2 ("centroid of cluster 17 in projection 2", …) says a name is. */
function meant(meaning: string): EmbeddingFileName {
  let m = /^question (\d+)$/.exec(meaning);
  if (m) return { kind: "question", questionId: Number(m[1]) };
  m = /^answer of cluster (\d+)$/.exec(meaning);
  if (m) return { kind: "answer", clusterId: Number(m[1]) };
  m = /^(centroid|answer) of cluster (\d+) in projection (\d+)$/.exec(meaning);
  if (m) {
    return {
      kind: m[1] === "centroid" ? "head-centroid" : "head-answer",
      mhProjectionId: Number(m[3]),
      clusterId: Number(m[2]),
    };
  }
  m = /^metadata of projection (\d+)$/.exec(meaning);
  if (m) return { kind: "projection-meta", mhProjectionId: Number(m[1]) };
  m = /^adapter of projection (\d+)$/.exec(meaning);
  if (m) return { kind: "projection-adapter", mhProjectionId: Number(m[1]) };
  throw new Error(`FORMAT.md §2.2: a meaning this test does not know: "${meaning}"`);
}
