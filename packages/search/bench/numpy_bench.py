"""NumPy side of the @ldakit/search benchmark (driven by bench.mjs).

Runs as a server: one JSON command per line on stdin, one JSON answer per line on stdout, so that
bench.mjs can alternate rounds of ldakit and NumPy (the machine's load changes over a run; taking
turns spreads that over both). The math is the same as @ldakit/search's, in float32 like it:

  q = q / |q|;  w = softmax((C q) / t) (max subtracted);  top-3 routing weights;
  p = w A;  p = p / |p|;  scores = A p;  top-5 (argpartition, then sorted by score, cluster id)

Commands
  {"cmd": "info"}                                   -> numpy version, BLAS library, kernel, threads
  {"cmd": "data", "C", "A", "Q", "ids", "t"}        -> loads (H, d) float32 .npy files
  {"cmd": "single", "start", "count"}               -> seconds per query, queries Q[start:start+count]
  {"cmd": "batch", "size", "start", "count"}        -> seconds per batch of `size` queries, `count` batches
  {"cmd": "load", "dir", "mh_id"}                   -> seconds to np.load every head file + stack + normalize
  {"cmd": "free"}
"""

import ctypes
import glob
import json
import os
import sys
import time

try:
    import numpy as np
except ImportError:
    print("NumPy is missing: run `python3 -m pip install -r tools/requirements.txt`", file=sys.stderr)
    sys.exit(3)

TOP_K = 5
ROUTING_TOP = 3
state = {}


def blas_info():
    info = {"numpy": np.__version__}
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{deps.get('name')} {deps.get('version')}"
    except Exception as exc:  # older NumPy
        info["blas"] = f"unknown ({exc})"
    # The kernel OpenBLAS picked at run time (what threadpoolctl reports as "architecture").
    libdir = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")):
            try:
                corename = getattr(lib, f"{prefix}get_corename{suffix}")
                threads = getattr(lib, f"{prefix}get_num_threads{suffix}")
            except AttributeError:
                continue
            corename.restype = ctypes.c_char_p
            info["kernel"] = corename().decode()
            info["threads"] = int(threads())
            break
    info["env"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS") if k in os.environ}
    return info


def top(values, ids, k):
    n = values.shape[-1]
    if k >= n:
        idx = np.arange(n)
    else:
        idx = np.argpartition(-values, k - 1)[:k]
    return idx[np.lexsort((ids[idx], -values[idx]))]


def search(q):
    C, A, ids, t = state["C"], state["A"], state["ids"], state["t"]
    q = q / np.linalg.norm(q)
    s = (C @ q) / t
    s -= s.max()
    w = np.exp(s)
    w /= w.sum()
    routing = top(w, ids, ROUTING_TOP)
    p = w @ A
    p /= np.linalg.norm(p)
    scores = A @ p
    return top(scores, ids, TOP_K), routing


def top_rows(M, ids, k):
    n = M.shape[1]
    idx = np.argpartition(-M, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (M.shape[0], 1))
    vals = np.take_along_axis(M, idx, axis=1)
    order = np.lexsort((ids[idx], -vals), axis=1)
    return np.take_along_axis(idx, order, axis=1)


def search_batch(Q):
    C, A, ids, t = state["C"], state["A"], state["ids"], state["t"]
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    S = (Q @ C.T) / t
    S -= S.max(axis=1, keepdims=True)
    W = np.exp(S)
    W /= W.sum(axis=1, keepdims=True)
    routing = top_rows(W, ids, ROUTING_TOP)
    P = W @ A
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    scores = P @ A.T
    return top_rows(scores, ids, TOP_K), routing


def load_files(directory, mh_id):
    with open(os.path.join(directory, f"mh_{mh_id}.json"), encoding="utf-8") as f:
        meta = json.load(f)
    ids = meta["cluster_ids"]
    C = np.stack([np.load(os.path.join(directory, f"mh_{mh_id}_cluster_{c}_centroid.npy")) for c in ids])
    A = np.stack([np.load(os.path.join(directory, f"mh_{mh_id}_cluster_{c}_answer.npy")) for c in ids])
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    return C, A


def handle(cmd):
    name = cmd["cmd"]
    if name == "info":
        return blas_info()
    if name == "data":
        state["C"] = np.load(cmd["C"])
        state["A"] = np.load(cmd["A"])
        state["Q"] = np.load(cmd["Q"])
        state["ids"] = np.asarray(cmd["ids"], dtype=np.int64)
        state["t"] = np.float32(cmd["t"])
        search(state["Q"][0])  # warm-up
        search_batch(state["Q"][:2])
        return {"heads": int(state["C"].shape[0])}
    if name == "single":
        Q = state["Q"]
        times = []
        for i in range(cmd["start"], cmd["start"] + cmd["count"]):
            q = Q[i % len(Q)]
            t0 = time.perf_counter()
            search(q)
            times.append(time.perf_counter() - t0)
        return {"times": times}
    if name == "batch":
        Q = state["Q"]
        size = cmd["size"]
        times = []
        for b in range(cmd["count"]):
            start = ((cmd["start"] + b) * size) % (len(Q) - size + 1)
            Qb = Q[start : start + size]
            t0 = time.perf_counter()
            search_batch(Qb)
            times.append(time.perf_counter() - t0)
        return {"times": times}
    if name == "load":
        t0 = time.perf_counter()
        C, A = load_files(cmd["dir"], cmd["mh_id"])
        return {"seconds": time.perf_counter() - t0, "heads": int(C.shape[0])}
    if name == "free":
        state.clear()
        return {}
    raise ValueError(f"unknown command {name!r}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = handle(json.loads(line))
        except Exception as exc:  # reported by bench.mjs
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
