// A separate process that runs SQL on a PostgreSQL database with its own `pg` client and prints
// the rows of the last statement as JSON: a peer that acts while the test's process is blocked in
// a synchronous hook. argv: <postgres:// URL> <SQL, statements separated by ";", no parameters>
import pg from "pg";

const [url, text] = process.argv.slice(2);
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const results = await client.query(text);
  const last = Array.isArray(results) ? results[results.length - 1] : results;
  process.stdout.write(`${JSON.stringify(last.rows)}\n`);
} finally {
  await client.end();
}
