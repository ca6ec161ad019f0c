// A separate process that runs `repair()` (the sweep every writing command runs first) on a
// store and prints the store paths it removed as JSON. argv: <store location: SQLite path or
// postgres:// URL>; LDAKIT_STORE_ROOT names a PostgreSQL store's root, as it does for ldakit.
import { LDAProjectionDB } from "../../dist/index.js";

const [location] = process.argv.slice(2);
const db = await LDAProjectionDB.open(location, {
  mode: "write",
  storeRoot: process.env.LDAKIT_STORE_ROOT || undefined,
});
try {
  const swept = await db.repair();
  process.stdout.write(`${JSON.stringify(swept.map((f) => f.path))}\n`);
} finally {
  await db.close();
}
