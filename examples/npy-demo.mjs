// A first look at @ldakit/npy: write a small matrix of "embeddings" as a NumPy .npy file,
// read it back, and — when python3 has NumPy — let NumPy load the very same file.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeNpy, readNpy, readNpyHeader, writeNpy } from "@ldakit/npy";

const dir = mkdtempSync(join(tmpdir(), "ldakit-demo-"));
try {
  // Three 4-dimensional vectors, one per row, as a (3, 4) float32 array in C order.
  const vectors = new Float32Array([0.5, 0.5, 0.5, 0.5, 1, 0, 0, 0, 0.6, 0.8, 0, 0]);
  const path = join(dir, "vectors.npy");
  await writeNpy(path, { data: vectors, shape: [3, 4] });

  const header = await readNpyHeader(path);
  console.log(`wrote ${path}`);
  console.log(
    `  header: NPY v${header.version.join(".")}, dtype ${header.dtype}, shape (${header.shape.join(", ")}), data at byte ${header.dataOffset}`,
  );

  const back = await readNpy(path);
  console.log(
    `  read back: ${back.dtype} ${JSON.stringify(back.shape)} → first row [${Array.from(back.data.slice(0, 4)).join(", ")}]`,
  );

  const bytes = readFileSync(path);
  const same = Buffer.compare(bytes, encodeNpy({ data: vectors, shape: [3, 4] })) === 0;
  console.log(`  file bytes equal encodeNpy() bytes: ${same}`);

  try {
    const script = [
      "import io, sys, numpy as np",
      "a = np.load(sys.argv[1])",
      "b = io.BytesIO(); np.save(b, a)",
      "print(f'  NumPy {np.__version__}: shape {a.shape}, dtype {a.dtype}, row norms {np.round(np.linalg.norm(a, axis=1), 6).tolist()}')",
      "print(f'  np.save of that array gives the same bytes: {b.getvalue() == open(sys.argv[1], \"rb\").read()}')",
    ].join("\n");
    process.stdout.write(
      execFileSync("python3", ["-c", script, path], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  } catch {
    console.log(
      "  (python3 with NumPy not found: `python3 -m pip install -r tools/requirements.txt` to compare)",
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
