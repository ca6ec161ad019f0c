"""NumPy side of the @ldakit/npy benchmark (driven by bench.mjs).

Usage: python3 numpy_bench.py DIR ROWS:COLS:REPS [ROWS:COLS:REPS ...]

For each size, times np.save / np.load on a file in DIR and np.save / np.load on an in-memory
buffer, REPS times after one warm-up, and prints one JSON object:
  {"numpy": "2.2.6", "results": [{"rows", "cols", "bytes", "reps",
                                   "times": {"write": [s...], "read": [...], "encode": [...], "decode": [...]}}]}
"""

import io
import json
import os
import sys
import time

try:
    import numpy as np
except ImportError:
    print(
        "NumPy is missing: run `python3 -m pip install -r tools/requirements.txt`",
        file=sys.stderr,
    )
    sys.exit(3)


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def bench(directory, rows, cols, reps):
    rng = np.random.default_rng(rows)
    a = rng.standard_normal((rows, cols), dtype=np.float32)
    path = os.path.join(directory, f"numpy_{rows}x{cols}.npy")
    sink = {}

    def write():
        np.save(path, a)

    def read():
        sink["r"] = np.load(path)

    def encode():
        buf = io.BytesIO()
        np.save(buf, a)
        sink["e"] = buf.getvalue()

    encode()
    encoded = sink["e"]

    def decode():
        sink["d"] = np.load(io.BytesIO(encoded))

    times = {
        "write": timed(write, reps),
        "read": timed(read, reps),
        "encode": timed(encode, reps),
        "decode": timed(decode, reps),
    }
    assert np.array_equal(sink["r"], a) and np.array_equal(sink["d"], a)
    os.remove(path)
    return {"rows": rows, "cols": cols, "bytes": a.nbytes, "reps": reps, "times": times}


def main():
    directory = sys.argv[1]
    results = []
    for spec in sys.argv[2:]:
        rows, cols, reps = (int(x) for x in spec.split(":"))
        results.append(bench(directory, rows, cols, reps))
    print(json.dumps({"numpy": np.__version__, "results": results}))


if __name__ == "__main__":
    main()
