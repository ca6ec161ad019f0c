// A separate process that creates a projection over every cluster of the hash-32 model, each head
// its cluster's answer vector (deterministic, so two runs write the same files), for the crash
// walk. argv: <store location: SQLite path or postgres:// URL>; LDAKIT_STORE_ROOT names a
// PostgreSQL store's root, as it does for ldakit. Prints the projection's id.
import { LDAProjectionDB } from "../../dist/index.js";

const [location] = process.argv.slice(2);
const db = await LDAProjectionDB.open(location, {
  storeRoot: process.env.LDAKIT_STORE_ROOT || undefined,
});
try {
  const set = await db.loadTrainingSet("hash-32");
  const d = set.dimensions;
  const id = await db.createProjection({
    modelId: set.modelId,
    temperature: 0.1,
    centroidMethod: "mean",
    heads: set.clusters.map((cluster, k) => ({
      clusterId: cluster.clusterId,
      centroid: set.answers.slice(k * d, (k + 1) * d),
      answer: set.answers.slice(k * d, (k + 1) * d),
      numQuestions: cluster.numQuestions,
    })),
  });
  process.stdout.write(`${JSON.stringify({ id })}\n`);
} finally {
  await db.close();
}
