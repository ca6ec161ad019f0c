// Part of the scale-out benchmark: how much memory a search process needs per head. Loads one
// projection of H random heads at d dimensions with @ldakit/search, as `ldakit search` does after
// reading the store, and prints the growth of resident memory (inputs freed) and the time of one
// search, as one JSON line. Needs --expose-gc, so that freed inputs do not count.
// argv: <heads> <dimensions>
import { initKernel, Projection } from "@ldakit/search";

const heads = Number(process.argv[2]);
const d = Number(process.argv[3]);
if (typeof globalThis.gc !== "function" || !(heads > 0) || !(d > 0)) {
  process.stderr.write("usage: node --expose-gc search-memory.mjs <heads> <dimensions>\n");
  process.exit(2);
}

function randomMatrix(rows, cols, seed) {
  const m = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < m.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    m[i] = s / 2 ** 32 - 0.5;
  }
  return m;
}

const settle = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().rss;
};

// The kernel and its helper threads start first: a query before they run uses one thread only.
await initKernel();
// Warm the kernel up on a tiny projection, so that its code is not counted as per-head memory.
Projection.fromArrays({
  mhProjectionId: 0,
  model: "warm-up",
  temperature: 0.1,
  clusterIds: [1, 2],
  centroids: randomMatrix(2, d, 1),
  answers: randomMatrix(2, d, 2),
}).search(randomMatrix(1, d, 3));

const before = settle();
const loadStart = performance.now();
let centroids = randomMatrix(heads, d, 11);
let answers = randomMatrix(heads, d, 12);
const projection = Projection.fromArrays({
  mhProjectionId: 1,
  model: "bench",
  temperature: 0.1,
  clusterIds: Array.from({ length: heads }, (_, i) => i + 1),
  centroids,
  answers,
});
const loadMs = performance.now() - loadStart;
centroids = undefined;
answers = undefined;
const times = [];
for (let i = 0; i < 21; i++) {
  const query = randomMatrix(1, d, 100 + i);
  const start = performance.now();
  projection.search(query, { topK: 5 });
  if (i > 0) times.push(performance.now() - start);
}
const after = settle();
times.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({ heads, d, rssGrowth: after - before, loadMs, queryMs: times[times.length >> 1] })}\n`,
);
// The kernel's worker threads (large projections) would keep the process alive.
process.exit(0);
