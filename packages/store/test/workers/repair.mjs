// A separate process that runs `repair()` (the sweep every writing command runs first) on a
// store and prints the store paths it removed as JSON. argv: <db path>
import { LDAProjectionDB } from "../../dist/index.js";

const [dbPath] = process.argv.slice(2);
const db = await LDAProjectionDB.open(dbPath, { mode: "write" });
try {
  const swept = await db.repair();
  process.stdout.write(`${JSON.stringify(swept.map((f) => f.path))}\n`);
} finally {
  await db.close();
}
