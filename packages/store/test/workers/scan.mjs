// A separate process that scans a folder into a store, for the scan tests that need another user
// (one who cannot read some of the inputs). argv: <db path> <input folder> [recursive]
// Prints the scan result as one JSON line, or the error as {"error", "code"} (exit 1).
import { LDAProjectionDB } from "../../dist/index.js";

const [dbPath, input, recursive] = process.argv.slice(2);
try {
  const db = await LDAProjectionDB.open(dbPath);
  const result = await db.scan(input, { recursive: recursive === "recursive" });
  await db.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: error.message, code: error.code })}\n`);
  process.exitCode = 1;
}
