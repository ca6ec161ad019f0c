// Checks that a repository stands on its own: no tracked file points at a folder beside the
// checkout (CI's `shared/`), and every relative Markdown link resolves inside the repository.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { posix } from "node:path";

/** One problem, where it is: a repository-relative path and a 1-based line. */
export interface Finding {
  file: string;
  line: number;
  message: string;
}

export function formatFinding(f: Finding): string {
  return `${f.file}:${f.line}: ${f.message}`;
}

/**
 * The files git tracks under `root` (repository-relative, `/`-separated), those deleted from the
 * work tree left out. Without git, or outside a repository, this throws: a hygiene check that
 * cannot list the files must fail, not pass on nothing.
 */
export function trackedFiles(root: string): string[] {
  const result = spawnSync("git", ["-C", root, "ls-files", "-z"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) {
    throw new Error(`git is needed to list the tracked files of ${root}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(`git ls-files in ${root} failed (exit ${result.status}): ${result.stderr}`);
  }
  return result.stdout.split("\0").filter((f) => f !== "" && existsSync(posix.join(root, f)));
}

// A parent-folder step, then `shared`: joined by / or \, or as separate strings (path.join's
// arguments, a concatenation). No line of this file may spell it out, or the check finds itself.
const SHARED_SIBLING = /\.\.(?:[\\/]+|["'`]\s*[,+]\s*["'`][\\/]?)shared(?![\w-])/;

/**
 * Every line of a tracked file that refers to the `shared` folder beside the repository, except
 * in the files of `allowed` (the CI script that hands that folder's data to the tests).
 */
export function findSharedFolderReferences(
  root: string,
  files: readonly string[],
  allowed: readonly string[] = [".ci/run"],
): Finding[] {
  const findings: Finding[] = [];
  for (const file of files) {
    if (allowed.includes(file)) continue;
    const bytes = readFileSync(posix.join(root, file));
    // Most files do not mention the word at all; only those are split into lines.
    if (!bytes.includes("shared")) continue;
    const lines = bytes.toString("utf8").split("\n");
    lines.forEach((text, i) => {
      const match = SHARED_SIBLING.exec(text);
      if (match) {
        findings.push({
          file,
          line: i + 1,
          message: `refers to a folder outside the repository (${match[0]})`,
        });
      }
    });
  }
  return findings;
}

/** GitHub's heading anchor: lower case, punctuation dropped, each space a hyphen. */
export function githubSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The text a heading renders to: code spans kept verbatim, links, emphasis and tags unwrapped. */
function headingText(source: string): string {
  return source
    .split(/(`+)([\s\S]*?)\1/)
    .map((part, i) => {
      // split with two groups yields [text, ticks, code, text, ticks, code, ...]
      if (i % 3 === 1) return "";
      if (i % 3 === 2) return part.trim();
      return part
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
        .replace(/<[^>]+>/g, "")
        .replace(/(\*\*|__)(.+?)\1/g, "$2")
        .replace(/(^|[^\w*])[*_](\S(?:.*?\S)?)[*_](?=[^\w*]|$)/g, "$1$2");
    })
    .join("")
    .trim();
}

interface Line {
  text: string;
  /** 1-based. */
  number: number;
}

/** The lines of a Markdown file that are not inside fenced code blocks. */
function proseLines(markdown: string): Line[] {
  const out: Line[] = [];
  let fence: { char: string; length: number } | null = null;
  markdown.split("\n").forEach((raw, i) => {
    const text = raw.replace(/\r$/, "");
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(text);
    if (fence) {
      const closer = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(text);
      if (closer?.[1]?.[0] === fence.char && (closer[1]?.length ?? 0) >= fence.length) fence = null;
      return;
    }
    if (opener?.[1]) {
      fence = { char: opener[1][0] as string, length: opener[1].length };
      return;
    }
    out.push({ text, number: i + 1 });
  });
  return out;
}

/** Every anchor a Markdown file offers: its headings' GitHub slugs, and HTML `id`/`name`s. */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const occurrences = new Map<string, number>();
  const add = (slug: string) => {
    // github-slugger: a repeated slug gets -1, -2, ... (skipping any that are taken)
    let result = slug;
    while (occurrences.has(result)) {
      const n = (occurrences.get(slug) ?? 0) + 1;
      occurrences.set(slug, n);
      result = `${slug}-${n}`;
    }
    occurrences.set(result, 0);
    anchors.add(result);
  };
  const lines = proseLines(markdown);
  lines.forEach((line, i) => {
    for (const m of line.text.matchAll(/<[a-z][^>]*\s(?:id|name)\s*=\s*["']([^"']+)["']/gi)) {
      anchors.add(m[1] as string);
    }
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line.text);
    if (atx) {
      add(githubSlug(headingText(atx[1] ?? "")));
      return;
    }
    const next = lines[i + 1];
    if (
      next &&
      next.number === line.number + 1 &&
      line.text.trim() !== "" &&
      /^ {0,3}(=+|-+)[ \t]*$/.test(next.text) &&
      !/^ {0,3}([-*+>|]|\d+[.)])/.test(line.text)
    ) {
      add(githubSlug(headingText(line.text.trim())));
    }
  });
  return anchors;
}

/** The `[text](target)` and `[label]: target` destinations of a Markdown file, with their lines. */
export function markdownLinks(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  for (const line of proseLines(markdown)) {
    // Code spans hold examples, not links.
    const text = line.text.replace(/(`+)[\s\S]*?\1/g, (m) => " ".repeat(m.length));
    const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(text);
    if (definition) links.push({ target: definition[1] as string, line: line.number });
    const inline =
      /!?\[(?:[^[\]]|\[[^[\]]*\])*\]\(\s*(<[^>]*>|(?:[^\s()]|\([^\s()]*\))*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
    for (const m of text.matchAll(inline))
      links.push({ target: m[1] as string, line: line.number });
  }
  return links;
}

/**
 * Every relative link of every tracked Markdown file that does not resolve: to a path that is not
 * a tracked file or folder (or lies outside the repository), or to an anchor that the target
 * Markdown file has no heading for. Links with a scheme (https:, mailto:) are not followed.
 */
export function findBrokenMarkdownLinks(root: string, files: readonly string[]): Finding[] {
  const tracked = new Set(files);
  const folders = new Set<string>([""]);
  for (const file of files) {
    for (let d = posix.dirname(file); d !== "."; d = posix.dirname(d)) folders.add(d);
  }
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (file: string) => {
    let anchors = anchorCache.get(file);
    if (!anchors) {
      anchors = markdownAnchors(readFileSync(posix.join(root, file), "utf8"));
      anchorCache.set(file, anchors);
    }
    return anchors;
  };
  const isMarkdown = (file: string) => /\.md$/i.test(file);

  const findings: Finding[] = [];
  for (const file of files.filter(isMarkdown)) {
    const markdown = readFileSync(posix.join(root, file), "utf8");
    for (const { target: raw, line } of markdownLinks(markdown)) {
      const bad = (message: string) => findings.push({ file, line, message: `${raw}: ${message}` });
      const target = raw.startsWith("<") ? raw.slice(1, -1) : raw;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) continue;
      const hash = target.indexOf("#");
      const pathPart = hash < 0 ? target : target.slice(0, hash);
      const anchorPart = hash < 0 ? "" : target.slice(hash + 1);
      let path: string;
      let anchor: string;
      try {
        path = decodeURIComponent(pathPart);
        anchor = decodeURIComponent(anchorPart);
      } catch {
        bad("not a valid percent-encoded link");
        continue;
      }
      let resolved = file;
      if (path !== "") {
        const joined = path.startsWith("/")
          ? posix.normalize(path.slice(1) || ".")
          : posix.normalize(posix.join(posix.dirname(file), path));
        if (joined === ".." || joined.startsWith("../")) {
          bad("points outside the repository");
          continue;
        }
        resolved = joined === "." ? "" : joined.replace(/\/+$/, "");
      }
      const isFile = tracked.has(resolved);
      if (!isFile && !folders.has(resolved)) {
        bad(`${resolved || "."} is not a tracked file or folder`);
        continue;
      }
      if (hash < 0 || anchor === "") continue;
      if (isFile && isMarkdown(resolved)) {
        if (!anchorsOf(resolved).has(anchor)) bad(`${resolved} has no heading #${anchor}`);
      } else if (isFile) {
        if (!/^L\d+(C\d+)?(-L\d+(C\d+)?)?$/.test(anchor)) {
          bad(`#${anchor} is neither a heading (${resolved} is not Markdown) nor a line (#L12)`);
        }
      } else {
        const readme = posix.join(resolved, "README.md");
        if (!tracked.has(readme)) bad(`${resolved || "."} is a folder without a README.md`);
        else if (!anchorsOf(readme).has(anchor)) bad(`${readme} has no heading #${anchor}`);
      }
    }
  }
  return findings;
}
