/**
 * @ldakit/npy benchmark: read and write float32 arrays with ldakit and with NumPy in the same run
 * and print median throughput (MB/s of array data, 1 MB = 1e6 bytes) and the ratio ldakit/NumPy.
 *
 *   pnpm build && pnpm bench            (in packages/npy)
 *   node bench/bench.mjs --quick        fewer repetitions
 *   node bench/bench.mjs --json         also print the raw numbers as JSON
 *
 * Python is `LDAKIT_PYTHON` or `python3`; it needs NumPy (python3 -m pip install -r tools/requirements.txt).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const args = new Set(process.argv.slice(2));
const QUICK = args.has("--quick");
const JSON_OUT = args.has("--json");
const PYTHON = process.env.LDAKIT_PYTHON || "python3";
const COLS = 384;
const SIZES = [
  { rows: 100_000, reps: QUICK ? 3 : 7 },
  { rows: 1_000, reps: QUICK ? 20 : 100 },
];

let lib;
try {
  lib = await import("../dist/index.js");
} catch (err) {
  console.error(`Cannot load ../dist/index.js (${err.message}). Build first: pnpm build`);
  process.exit(1);
}
const { decodeNpy, encodeNpy, readNpy, writeNpy } = lib;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(fn, reps) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return times;
}

/** Deterministic float32 data (a cheap LCG; the values do not matter for I/O speed). */
function makeData(n) {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

async function benchLdakit(dir, rows, reps) {
  const data = makeData(rows * COLS);
  const shape = [rows, COLS];
  const path = join(dir, `ldakit_${rows}x${COLS}.npy`);
  let sink;
  const encoded = encodeNpy({ data, shape });
  const times = {
    write: await timed(() => writeNpy(path, { data, shape }), reps),
    read: await timed(async () => {
      sink = await readNpy(path);
    }, reps),
    encode: await timed(() => {
      sink = encodeNpy({ data, shape });
    }, reps),
    decode: await timed(() => {
      sink = decodeNpy(encoded);
    }, reps),
  };
  // sanity: what was written is what NumPy would write, and reads back equal
  const back = await readNpy(path);
  const same = Buffer.from(readFileSync(path)).equals(Buffer.from(encoded));
  const equal = Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(
    Buffer.from(data.buffer),
  );
  if (!same || !equal || !sink) throw new Error("ldakit benchmark sanity check failed");
  return { rows, cols: COLS, bytes: data.byteLength, reps, times };
}

function benchNumpy(dir) {
  const script = fileURLToPath(new URL("./numpy_bench.py", import.meta.url));
  const specs = SIZES.map(({ rows, reps }) => `${rows}:${COLS}:${reps}`);
  const proc = spawnSync(PYTHON, [script, dir, ...specs], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (proc.error || proc.status !== 0) {
    const why = proc.error ? proc.error.message : proc.stderr;
    throw new Error(
      `NumPy benchmark failed (${PYTHON}): ${why}\n` +
        "Install NumPy with: python3 -m pip install -r tools/requirements.txt",
    );
  }
  return JSON.parse(proc.stdout);
}

const OPS = [
  ["read", "read file (readNpy / np.load)"],
  ["write", "write file (writeNpy / np.save)"],
  ["decode", "decode in memory (decodeNpy / np.load(BytesIO))"],
  ["encode", "encode in memory (encodeNpy / np.save(BytesIO))"],
];

function mbps(bytes, times) {
  return bytes / 1e6 / median(times);
}

const dir = mkdtempSync(join(tmpdir(), "ldakit-npy-bench-"));
try {
  const ours = [];
  for (const { rows, reps } of SIZES) ours.push(await benchLdakit(dir, rows, reps));
  const numpy = benchNumpy(dir);

  const rows = [];
  for (const [i, mine] of ours.entries()) {
    const theirs = numpy.results[i];
    for (const [op, label] of OPS) {
      const a = mbps(mine.bytes, mine.times[op]);
      const b = mbps(theirs.bytes, theirs.times[op]);
      rows.push({
        size: `${mine.rows}x${mine.cols} f4`,
        op: label,
        ldakit: a,
        numpy: b,
        ratio: a / b,
        reps: mine.reps,
      });
    }
  }

  const header = ["size", "operation", "ldakit MB/s", "NumPy MB/s", "ratio"];
  const table = rows.map((r) => [
    r.size,
    r.op,
    r.ldakit.toFixed(0),
    r.numpy.toFixed(0),
    r.ratio.toFixed(2),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((t) => t[c].length)));
  const line = (cells) =>
    cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  console.log(
    `@ldakit/npy vs NumPy ${numpy.numpy} (Node ${process.version}); median of ` +
      `${SIZES.map((s) => `${s.reps}`).join("/")} runs after a warm-up; MB = 1e6 bytes of array data`,
  );
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const t of table) console.log(line(t));
  console.log("ratio = ldakit / NumPy throughput (> 1 means ldakit is faster).");
  console.log("decodeNpy returns a zero-copy view of aligned input; np.load(BytesIO) copies.");
  if (JSON_OUT) console.log(JSON.stringify({ numpy: numpy.numpy, node: process.version, rows }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
