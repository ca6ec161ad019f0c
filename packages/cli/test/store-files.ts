import { type Dirent, readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Every file below `join(root, below)`, as a POSIX path relative to `root` (how the database
 * names store files), sorted; none when the folder does not exist.
 */
export function filesBelow(root: string, below = "."): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(root, below), { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(root.length + 1)
        .split("\\")
        .join("/"),
    )
    .sort();
}
