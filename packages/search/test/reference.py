"""Float64 NumPy reference of the @ldakit/search math, for the tests (driven by reference.ts).

Reads a JSON list of requests on stdin and prints one JSON answer on stdout (one Python start
for many cases). A request is one of:

  {"cmd": "arrays", "centroids": "C.npy", "answers": "A.npy", "cluster_ids": [...],
   "temperature": t, "queries": "Q.npy", "top_k": k, "adapter": "W.npy" (optional), "blend": b (optional)}
      C and A are (H, d) matrices in head order; Q is (n, d); W is (d, d); b defaults to 1.
  {"cmd": "files", "dir": "...", "mh_id": m, "queries": "Q.npy", "top_k": k}
      reads <dir>/mh_<m>.json, the head files it lists and the adapter file it names (and its
      blend), independently of ldakit.

Answer: {"numpy": "2.2.6", "results": [[per query of request 0], ...]}, where each query gives
  {"weights": [...], "projected": [...], "scores": [...], "order": [cluster ids],
   "direct_scores": [...], "direct_order": [...]}

The math (docs/FORMAT.md §6): rows and queries are L2-normalized; the routing vector is
r = normalize(W q) with an adapter, else q; w = softmax(cos(r, c_k) / t) with the maximum
subtracted first; p = normalize(sum_k w_k a_k); with b < 1, p := normalize(b p + (1 - b) q)
("projected" is that blended vector); scores = A p; direct scores = A q. The order is by score
descending, ties by the smaller cluster id.
"""

import json
import os
import sys

try:
    import numpy as np
except ImportError as exc:  # reported by reference.ts with the install command
    print(f"LDAKIT_NUMPY_MISSING: {exc}", file=sys.stderr)
    sys.exit(3)


def normalize_rows(m):
    m = np.asarray(m, dtype=np.float64)
    return m / np.linalg.norm(m, axis=-1, keepdims=True)


def ranked(scores, cluster_ids, k):
    # lexsort sorts by the last key first: score descending, then cluster id ascending
    order = np.lexsort((cluster_ids, -scores))
    return [int(cluster_ids[i]) for i in order[:k]]


def compute(C, A, cluster_ids, t, Q, k, W=None, blend=1.0):
    C = normalize_rows(C)
    A = normalize_rows(A)
    Q = normalize_rows(np.atleast_2d(Q))
    ids = np.asarray(cluster_ids, dtype=np.int64)
    out = []
    for q in Q:
        r = q if W is None else normalize_rows(W @ q)
        logits = (C @ r) / t
        logits = logits - logits.max()
        w = np.exp(logits)
        w = w / w.sum()
        p = w @ A
        p = p / np.linalg.norm(p)
        if blend != 1.0:
            b = blend * p + (1.0 - blend) * q
            norm = np.linalg.norm(b)
            p = b / norm if norm > 0 else b
        scores = A @ p
        direct = A @ q
        out.append(
            {
                "weights": w.tolist(),
                "projected": p.tolist(),
                "scores": scores.tolist(),
                "order": ranked(scores, ids, k),
                "direct_scores": direct.tolist(),
                "direct_order": ranked(direct, ids, k),
            }
        )
    return out


def load_files(directory, mh_id):
    with open(os.path.join(directory, f"mh_{mh_id}.json"), encoding="utf-8") as f:
        meta = json.load(f)
    ids = meta["cluster_ids"]
    C = np.stack(
        [np.load(os.path.join(directory, f"mh_{mh_id}_cluster_{c}_centroid.npy")).astype(np.float64) for c in ids]
    )
    A = np.stack(
        [np.load(os.path.join(directory, f"mh_{mh_id}_cluster_{c}_answer.npy")).astype(np.float64) for c in ids]
    )
    W = None
    if meta.get("adapter") is not None:
        W = np.load(os.path.join(directory, meta["adapter"])).astype(np.float64)
    return C, A, ids, float(meta["temperature"]), W, float(meta.get("blend", 1.0))


def run(request):
    cmd = request["cmd"]
    Q = np.load(request["queries"]).astype(np.float64)
    k = int(request["top_k"])
    if cmd == "arrays":
        C = np.load(request["centroids"]).astype(np.float64)
        A = np.load(request["answers"]).astype(np.float64)
        W = np.load(request["adapter"]).astype(np.float64) if request.get("adapter") else None
        blend = float(request.get("blend", 1.0))
        results = compute(C, A, request["cluster_ids"], float(request["temperature"]), Q, k, W, blend)
    elif cmd == "files":
        C, A, ids, t, W, blend = load_files(request["dir"], request["mh_id"])
        results = compute(C, A, ids, t, Q, k, W, blend)
    else:
        raise SystemExit(f"unknown cmd {cmd!r}")
    return results


def main():
    requests = json.load(sys.stdin)
    json.dump({"numpy": np.__version__, "results": [run(r) for r in requests]}, sys.stdout)


if __name__ == "__main__":
    main()
