// A separate process that scans a folder into a store, for the scan tests that need another user
// (one who cannot read some of the inputs).
// argv: <db path or postgres:// URL> <input folder> [recursive] [--store-root=DIR]
// Prints the scan result as one JSON line, or the error as {"error", "code"} (exit 1).
import { LDAProjectionDB } from "../../dist/index.js";

const [location, input, ...flags] = process.argv.slice(2);
const storeRoot = flags.find((f) => f.startsWith("--store-root="))?.slice("--store-root=".length);
try {
  const db = await LDAProjectionDB.open(location, { storeRoot });
  const result = await db.scan(input, { recursive: flags.includes("recursive") });
  await db.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: error.message, code: error.code })}\n`);
  process.exitCode = 1;
}
