// A separate process that opens a store in a mode and closes it, for the open tests that need a
// user other than root (root may write any file). argv: <db path> <mode>
// Prints {"opened": true}, or the error as {"error", "code"} (exit 1).
import { LDAProjectionDB } from "../../dist/index.js";

const [dbPath, mode] = process.argv.slice(2);
try {
  const db = await LDAProjectionDB.open(dbPath, { mode });
  await db.close();
  process.stdout.write(`${JSON.stringify({ opened: true })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: error.message, code: error.code })}\n`);
  process.exitCode = 1;
}
