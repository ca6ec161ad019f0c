/** The README's example runs as written and prints what the README says; its grammar is the code's. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EMBEDDING_FILE_ABNF, EMBEDDING_FILE_PATTERNS } from "../src/index.js";
import { readRepoFile } from "./helpers.js";

const readme = readRepoFile("packages/format/README.md");

/** The fenced blocks of a language, in order. */
function blocks(language: string): string[] {
  const out: string[] = [];
  const fence = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, "gm");
  for (const match of readme.matchAll(fence)) out.push(match[1] as string);
  return out;
}

describe("README.md", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    vi.restoreAllMocks();
  });

  it("starts with the install line", () => {
    expect(readme.startsWith("# @ldakit/format\n\n```sh\npnpm add @ldakit/format\n```\n")).toBe(
      true,
    );
  });

  it("has an example that prints what the README shows", async () => {
    const [example] = blocks("ts");
    const [printed] = blocks("text");
    expect(example).toContain('from "@ldakit/format";');
    const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));
    dir = mkdtempSync(join(tmpdir(), "ldakit-format-readme-"));
    const file = join(dir, "example.ts");
    writeFileSync(
      file,
      (example as string).replace('from "@ldakit/format";', `from ${JSON.stringify(entry)};`),
    );
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(format(...args));
    });
    await import(file);
    expect(`${lines.join("\n")}\n`).toBe(printed);
  });

  it("shows the grammar as EMBEDDING_FILE_ABNF and EMBEDDING_FILE_PATTERNS have it", () => {
    expect(blocks("abnf")).toEqual([EMBEDDING_FILE_ABNF]);
    const rows = [...readme.matchAll(/^\| `([a-z-]+)` +\| `(\^.*\$)` +\|$/gm)].map((m) => [
      m[1],
      (m[2] as string).replaceAll("\\|", "|"),
    ]);
    expect(rows).toEqual(
      Object.entries(EMBEDDING_FILE_PATTERNS).map(([kind, pattern]) => [kind, pattern.source]),
    );
  });
});
