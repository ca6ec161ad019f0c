// The repository stands on its own: nothing tracked needs a folder beside the checkout, and every
// relative Markdown link resolves. Each check is also run on planted bad cases, so it can fail.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  findBrokenMarkdownLinks,
  findSharedFolderReferences,
  formatFinding,
  githubSlug,
  markdownAnchors,
  markdownLinks,
  trackedFiles,
} from "./hygiene.js";

const ROOT = resolve(import.meta.dirname, "../..");

describe("this repository", () => {
  const files = trackedFiles(ROOT);

  it("is a git checkout with its files tracked", () => {
    expect(files).toContain("package.json");
    expect(files).toContain(".ci/run");
  });

  it("has no tracked file (but .ci/run) that refers to the shared folder beside it", () => {
    expect(findSharedFolderReferences(ROOT, files).map(formatFinding)).toEqual([]);
  });

  it("has every relative link of its Markdown files resolving, anchors included", () => {
    const markdown = files.filter((f) => f.endsWith(".md"));
    const links = markdown.flatMap((f) => markdownLinks(readFileSync(join(ROOT, f), "utf8")));
    expect(links.filter((l) => !/^[a-z]+:/i.test(l.target)).length).toBeGreaterThan(10);
    expect(findBrokenMarkdownLinks(ROOT, files).map(formatFinding)).toEqual([]);
  });
});

/** The workspace packages each package.json depends on, by short name (`@ldakit/npy` → `npy`). */
function workspaceDependencies(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const dir of ["cli", "embed", "format", "npy", "schema", "search", "store", "tf", "train"]) {
    const manifest = JSON.parse(readFileSync(join(ROOT, "packages", dir, "package.json"), "utf8"));
    const short = (name: string) => (name === "ldakit" ? "cli" : name.replace("@ldakit/", ""));
    const deps = Object.keys(manifest.dependencies ?? {}).filter(
      (name) => name.startsWith("@ldakit/") || name === "ldakit",
    );
    graph.set(short(manifest.name), deps.map(short).sort());
  }
  return graph;
}

describe("the package graph", () => {
  const graph = workspaceDependencies();

  it("is what docs/ARCHITECTURE.md §1.1 draws", () => {
    const doc = readFileSync(join(ROOT, "docs/ARCHITECTURE.md"), "utf8");
    const drawn = new Map<string, string[]>();
    for (const m of doc.matchAll(
      /^(ldakit \(cli\)|@ldakit\/[a-z]+) +──► ([^+\n]*?)\s*(?:\+.*)?$/gm,
    )) {
      const name = (m[1] as string).startsWith("ldakit ") ? "cli" : (m[1] as string).slice(8);
      const targets = (m[2] as string).startsWith("(nothing")
        ? []
        : (m[2] as string).split(",").map((t) => t.trim());
      drawn.set(name, targets.sort());
    }
    expect(new Map([...drawn].sort())).toEqual(new Map([...graph].sort()));
  });

  it("points downwards only: no package depends on itself through others", () => {
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      (graph.get(from) ?? []).some(
        (d) => d === to || (!seen.has(d) && seen.add(d) && reaches(d, to, seen)),
      );
    expect([...graph.keys()].filter((name) => reaches(name, name))).toEqual([]);
  });
});

// The planted repositories: real git repositories in a temporary folder, files staged, so that
// the checks see exactly what they see in a checkout.
const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function git(dir: string, ...args: string[]): void {
  const r = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  if (r.error) throw new Error(`git is needed for this test: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
}

/** A git repository holding `tracked` (staged) and `untracked` files. */
function plantRepository(
  tracked: Record<string, string>,
  untracked: Record<string, string> = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), "ldakit-hygiene-"));
  temps.push(dir);
  git(dir, "init", "-q");
  for (const [name, text] of Object.entries({ ...tracked, ...untracked })) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  if (Object.keys(tracked).length > 0) git(dir, "add", "--", ...Object.keys(tracked));
  return dir;
}

// Spelled in pieces so that this file itself does not refer to the folder.
const UP = "..";
const SHARED = `${UP}/shared`;

describe("the shared-folder check", () => {
  it("finds each spelling in tracked files, with file and line, and nothing else", () => {
    const dir = plantRepository(
      {
        "a.ts": `const ok = 1;\nconst data = "${UP}/../${"shared"}/data/x.json";\n`,
        "b.mjs": `path.join(root, "${UP}", "shared", "data");\n`,
        "c.md": `See [the design](${SHARED}/DESIGN.md).\n`,
        "d.ps1": `Get-Item ${UP}\\shared\\data\n`,
        "e.ts": `// ${UP}/shared-notes, ./shared, packages/shared and ${UP}/sharedness are not it\n`,
        ".ci/run": `if [ -d ${SHARED}/data ]; then :; fi\n`,
      },
      { "untracked.ts": `const x = "${SHARED}";\n` },
    );
    const files = trackedFiles(dir);
    expect(files.sort()).toEqual([".ci/run", "a.ts", "b.mjs", "c.md", "d.ps1", "e.ts"]);
    expect(findSharedFolderReferences(dir, files).map((f) => [f.file, f.line])).toEqual([
      ["a.ts", 2],
      ["b.mjs", 1],
      ["c.md", 1],
      ["d.ps1", 1],
    ]);
    expect(formatFinding(findSharedFolderReferences(dir, ["c.md"])[0] as never)).toBe(
      `c.md:1: refers to a folder outside the repository (${SHARED})`,
    );
    // .ci/run is allowed by default, and only because it is listed
    expect(findSharedFolderReferences(dir, [".ci/run"], [])).toHaveLength(1);
  });

  it("fails where git cannot list the files: outside a repository, or no git at all", () => {
    const dir = mkdtempSync(join(tmpdir(), "ldakit-hygiene-nogit-"));
    temps.push(dir);
    expect(() => trackedFiles(dir)).toThrow(/git ls-files in .* failed/);
    const path = process.env.PATH;
    process.env.PATH = dir; // an empty folder: no git on the PATH
    try {
      expect(() => trackedFiles(ROOT)).toThrow(/git is needed to list the tracked files/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe("the Markdown link check", () => {
  const guide = [
    "# Guide",
    "",
    "## Set up: the `mh_<id>.json` file",
    "",
    "## Set up: the `mh_<id>.json` file",
    "",
    "Über *emphasis* & more",
    "----------------------",
    '<a name="custom-anchor"></a>',
    "### __Bold__ and snake_case",
  ].join("\n");

  it("gives headings GitHub's anchors", () => {
    expect(githubSlug("Set up: the mh_<id>.json file")).toBe("set-up-the-mh_idjson-file");
    expect([...markdownAnchors(guide)]).toEqual([
      "guide",
      "set-up-the-mh_idjson-file",
      "set-up-the-mh_idjson-file-1",
      "über-emphasis--more",
      "custom-anchor",
      "bold-and-snake_case",
    ]);
    expect([...markdownAnchors("```\n# not a heading\n```\n# Real\n")]).toEqual(["real"]);
  });

  it("finds links to untracked or missing paths, outside the repository, and missing anchors", () => {
    const dir = plantRepository(
      {
        "README.md": [
          "[guide](docs/guide.md) [anchor](docs/guide.md#set-up-the-mh_idjson-file)",
          "[second](docs/guide.md#set-up-the-mh_idjson-file-1) [folder](docs) [folder/](docs/)",
          "[self](#readme) [root](/package.json) ![img](docs/img.png 'title') [web](https://x.y/z)",
          "[mail](mailto:a@b.c) [line](src/a.ts#L3-L5) [ref]: docs/guide.md#custom-anchor",
          "`[code](missing.md)`",
          "```",
          "[fenced](missing.md)",
          "```",
          "# Readme",
          "[nothing](nothing.md)",
          "[untracked](notes.md)",
          "[no anchor](docs/guide.md#set-up)",
          "[outside](../elsewhere.md)",
          "[bad self](#nowhere)",
          "[code anchor](src/a.ts#main)",
          "[folder anchor](src#x)",
          "[ref2]: missing/ref.md",
          "[spaced](docs/a%20b.md)",
        ].join("\n"),
        "docs/guide.md": `${guide}\n[back](../README.md#readme) [up](..)\n`,
        "docs/img.png": "png",
        "docs/a b.md": "# A B\n",
        "src/a.ts": "export {};\n",
        "package.json": "{}\n",
      },
      { "notes.md": "# Notes\n" },
    );
    const found = findBrokenMarkdownLinks(dir, trackedFiles(dir)).map(formatFinding);
    expect(found).toEqual([
      "README.md:10: nothing.md: nothing.md is not a tracked file or folder",
      "README.md:11: notes.md: notes.md is not a tracked file or folder",
      "README.md:12: docs/guide.md#set-up: docs/guide.md has no heading #set-up",
      "README.md:13: ../elsewhere.md: points outside the repository",
      "README.md:14: #nowhere: README.md has no heading #nowhere",
      "README.md:15: src/a.ts#main: #main is neither a heading (src/a.ts is not Markdown) nor a line (#L12)",
      "README.md:16: src#x: src is a folder without a README.md",
      "README.md:17: missing/ref.md: missing/ref.md is not a tracked file or folder",
    ]);
  });
});
