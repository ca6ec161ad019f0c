import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A temporary folder holding `raw/data.json`: four small Q-A clusters (form a) about kitchen
 * appliances, three questions each — enough for every command to run in a second.
 */
export function appliancesFolder(prefix: string): string {
  const cwd = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(cwd, "raw"));
  writeFileSync(
    join(cwd, "raw", "data.json"),
    JSON.stringify({
      clusters: ["kettle", "toaster", "blender", "fridge"].map((thing, c) => ({
        answer: `Answer ${c}: descale the ${thing} with vinegar once a month`,
        answer_id: `r${c}`,
        questions: [0, 1, 2].map((q) => `how do I clean my ${thing}, way ${q}?`),
      })),
    }),
  );
  return cwd;
}
