"""NumPy doing the same math as @ldakit/train, for bench.mjs: weighted centroids of all questions
and the k-fold held-out temperature evaluation on the same folds and sample. Prints JSON timings."""
import json
import sys
import time

import numpy as np


def normalize_rows(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n == 0, 1, n)


def weighted_centroids(q, cluster, h):
    q = normalize_rows(q)
    counts = np.bincount(cluster, minlength=h).astype(q.dtype)
    w = 1.0 / counts[cluster]
    for r in range(3):
        c = np.zeros((h, q.shape[1]), dtype=q.dtype)
        np.add.at(c, cluster, w[:, None] * q)
        c = normalize_rows(c)
        if r < 2:
            e = np.exp(np.einsum("ij,ij->i", q, c[cluster]))
            w = e / np.bincount(cluster, weights=e, minlength=h)[cluster]
    return c


def ranks(scores, truth):
    target = scores[np.arange(len(truth)), truth][:, None]
    return 1 + (scores > target).sum(1)


def main():
    folder = sys.argv[1]
    q = np.load(f"{folder}/questions.npy")
    cluster = np.load(f"{folder}/cluster.npy")
    answers = normalize_rows(np.load(f"{folder}/answers.npy"))
    fold = np.load(f"{folder}/fold.npy")
    selected = np.load(f"{folder}/selected.npy").astype(bool)
    temperatures = json.loads(sys.argv[2])
    folds = int(sys.argv[3])
    h = answers.shape[0]

    start = time.perf_counter()
    weighted_centroids(q, cluster, h)
    centroid_s = time.perf_counter() - start

    start = time.perf_counter()
    for f in range(folds):
        test = np.where((fold == f) & selected)[0]
        if len(test) == 0:
            continue
        train = fold != f
        c = weighted_centroids(q[train], cluster[train], h)
        for b in range(0, len(test), 512):
            block = test[b : b + 512]
            qt = normalize_rows(q[block])
            sims = qt @ c.T
            ranks(qt @ answers.T, cluster[block])
            for t in temperatures:
                z = sims / t
                w = np.exp(z - z.max(1, keepdims=True))
                w /= w.sum(1, keepdims=True)
                p = normalize_rows(w @ answers)
                ranks(p @ answers.T, cluster[block])
    kfold_s = time.perf_counter() - start
    json.dump({"centroids_s": centroid_s, "kfold_s": kfold_s, "numpy": np.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
