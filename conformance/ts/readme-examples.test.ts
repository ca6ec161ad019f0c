// Every package README opens with its install line and a first example that runs (issue 11).
//
// The convention, for README authors:
//   - the README starts with `# <package name>`, one sentence, then a ```sh block with the
//     install line (`pnpm add <package name>`, or `pnpm add -g ldakit` for the CLI);
//   - then, before the first `## ` heading, exactly one fenced block whose info string is
//     `js first-example` (plain ESM JavaScript, run with node) or `sh first-example` (a shell
//     session, run with bash under `set -euo pipefail`, where `ldakit` is the built CLI);
//   - optionally, the next fenced block is `text first-example-output`: what the example prints,
//     compared with its stdout exactly (trailing white space aside). Leave it out when the
//     output depends on the machine (a TensorFlow.js backend, timings, dates).
// Markdown renderers highlight by the first word of the info string and ignore the rest.
//
// Examples run from the repository root (so `examples/bike-care/raw` resolves), written under
// conformance/.tmp-readme/ (git-ignored) so that `@ldakit/*` imports resolve through this
// package's workspace dependencies. TMPDIR points at a folder removed after each run, so the
// temporary stores the examples create go with it. Each must exit 0 and print something, and
// nothing of `undefined`, `NaN` or `[object Object]`: a renamed field or a missing value would
// otherwise still print a line.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec } from "./exec.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const SCRATCH = join(REPO, "conformance", ".tmp-readme");
const CLI = join(REPO, "packages", "cli", "dist", "main.js");

interface Fence {
  info: string[];
  body: string;
  /** 0-based line of the opening fence. */
  line: number;
}

/** The fenced code blocks of a Markdown text, with their info-string words. */
function fences(markdown: string): Fence[] {
  const lines = markdown.split("\n");
  const found: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) {
      body.push(lines[i] as string);
    }
    if (i >= lines.length) throw new Error(`unclosed code fence opened at line ${start + 1}`);
    found.push({
      info: (open[1] as string).trim().split(/\s+/),
      body: body.join("\n"),
      line: start,
    });
  }
  return found;
}

interface FirstExample {
  language: "js" | "sh";
  code: string;
  expectedOutput?: string;
}

/** Checks the top of a README against the convention and returns its first example. */
function readFirstExample(markdown: string, packageName: string, file: string): FirstExample {
  const lines = markdown.split("\n");
  if (lines[0] !== `# ${packageName}`) {
    throw new Error(`${file}: line 1 must be "# ${packageName}", found "${lines[0]}"`);
  }
  const all = fences(markdown);
  const marked = all.filter((f) => f.info.includes("first-example"));
  if (marked.length !== 1) {
    throw new Error(
      `${file}: expected exactly one code block marked \`first-example\` (\`\`\`js first-example or \`\`\`sh first-example), found ${marked.length}`,
    );
  }
  const example = marked[0] as Fence;
  const language = example.info[0];
  if (language !== "js" && language !== "sh") {
    throw new Error(
      `${file}:${example.line + 1}: the first example must be \`js\` or \`sh\`, not \`${language}\``,
    );
  }
  const firstSection = lines.findIndex((l) => l.startsWith("## "));
  if (firstSection !== -1 && firstSection < example.line) {
    throw new Error(
      `${file}:${example.line + 1}: the first example must come before the first "## " heading (line ${firstSection + 1})`,
    );
  }
  const install = all.find((f) => f.info[0] === "sh" && f.line < example.line);
  const installLine = packageName === "ldakit" ? "pnpm add -g ldakit" : `pnpm add ${packageName}`;
  if (!install?.body.includes(installLine)) {
    throw new Error(
      `${file}: a \`\`\`sh block with "${installLine}" must precede the first example`,
    );
  }
  const next = all[all.indexOf(example) + 1];
  const outputs = all.filter((f) => f.info.includes("first-example-output"));
  if (outputs.length > 1 || (outputs.length === 1 && outputs[0] !== next)) {
    throw new Error(
      `${file}: a \`text first-example-output\` block must be the one block right after the first example`,
    );
  }
  return { language, code: example.body, expectedOutput: outputs[0]?.body };
}

const packages = readdirSync(join(REPO, "packages"))
  .filter((dir) => existsSync(join(REPO, "packages", dir, "package.json")))
  .sort()
  .map((dir) => ({
    dir,
    name: JSON.parse(readFileSync(join(REPO, "packages", dir, "package.json"), "utf8"))
      .name as string,
  }));

let tmp = "";
beforeAll(() => {
  mkdirSync(SCRATCH, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), "ldakit-readme-"));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the convention is checked", () => {
  const readme = (top: string) =>
    `# @ldakit/x\n\nOne sentence.\n\n\`\`\`sh\npnpm add @ldakit/x\n\`\`\`\n\n${top}\n## API\n`;

  it("accepts a README that follows it and returns the example and its output", () => {
    const example = readFirstExample(
      readme(
        '```js first-example\nconsole.log("hi");\n```\n\nIt prints:\n\n```text first-example-output\nhi\n```\n',
      ),
      "@ldakit/x",
      "x/README.md",
    );
    expect(example).toEqual({ language: "js", code: 'console.log("hi");', expectedOutput: "hi" });
  });

  it("refuses a README without a marked example, or with the example after a section", () => {
    expect(() => readFirstExample(readme("```js\n1;\n```\n"), "@ldakit/x", "x/README.md")).toThrow(
      "x/README.md: expected exactly one code block marked `first-example`",
    );
    expect(() =>
      readFirstExample(
        "# @ldakit/x\n\n```sh\npnpm add @ldakit/x\n```\n\n## Usage\n\n```js first-example\n1;\n```\n",
        "@ldakit/x",
        "x/README.md",
      ),
    ).toThrow('x/README.md:9: the first example must come before the first "## " heading (line 7)');
  });

  it("refuses a README without the install line first, or under another title", () => {
    expect(() =>
      readFirstExample("# @ldakit/x\n\n```js first-example\n1;\n```\n", "@ldakit/x", "x/README.md"),
    ).toThrow(
      'x/README.md: a ```sh block with "pnpm add @ldakit/x" must precede the first example',
    );
    expect(() => readFirstExample(readme(""), "@ldakit/y", "y/README.md")).toThrow(
      'y/README.md: line 1 must be "# @ldakit/y", found "# @ldakit/x"',
    );
  });
});

describe("every package README's first example runs", () => {
  it("finds the packages", () => {
    expect(packages.map((p) => p.name)).toEqual(
      expect.arrayContaining(["@ldakit/npy", "@ldakit/search", "@ldakit/store", "ldakit"]),
    );
  });

  for (const { dir, name } of packages) {
    it(`${name} (packages/${dir}/README.md)`, { timeout: 180_000 }, async () => {
      const file = `packages/${dir}/README.md`;
      const path = join(REPO, file);
      expect(existsSync(path), `${file} is missing`).toBe(true);
      const example = readFirstExample(readFileSync(path, "utf8"), name, file);

      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TMPDIR: tmp,
        LDAKIT_CACHE: join(tmp, "cache"),
      };
      // A store or model folder of the caller's must not leak into the examples.
      delete env.LDAKIT_DB;
      delete env.LDAKIT_MODEL_DIR;

      let run: Awaited<ReturnType<typeof exec>>;
      if (example.language === "js") {
        const script = join(SCRATCH, `${dir}.mjs`);
        writeFileSync(script, `${example.code}\n`);
        run = await exec(process.execPath, [script], { cwd: REPO, env });
      } else {
        const script = join(SCRATCH, `${dir}.sh`);
        const prelude = [
          "set -euo pipefail",
          `ldakit() { ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"; }`,
        ];
        writeFileSync(script, `${prelude.join("\n")}\n${example.code}\n`);
        run = await exec("bash", [script], { cwd: REPO, env });
      }
      const report = `${file}: first example\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
      expect(run.code, report).toBe(0);
      expect(run.stdout.trim(), report).not.toBe("");
      expect(run.stdout, report).not.toMatch(/\bundefined\b|\bNaN\b|\[object Object\]/);
      if (example.expectedOutput !== undefined) {
        const lines = (text: string) =>
          text
            .trimEnd()
            .split("\n")
            .map((l) => l.trimEnd());
        expect(lines(run.stdout), report).toEqual(lines(example.expectedOutput));
      }
    });
  }
});
