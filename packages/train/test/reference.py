"""Float64 NumPy reference of @ldakit/train's math, for its tests. Reads a JSON job on stdin."""
import json
import sys

import numpy as np


def normalize_rows(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n == 0, 1, n)


def centroids(q, cluster, h, method):
    q = normalize_rows(q)
    c = np.zeros((h, q.shape[1]))
    weights = None
    for k in range(h):
        members = q[cluster == k]
        w = np.ones(len(members)) / len(members)
        rounds = 3 if method == "weighted" else 1
        for r in range(rounds):
            ck = (w[:, None] * members).sum(0)
            ck = ck / np.linalg.norm(ck)
            if r < rounds - 1:
                e = np.exp(members @ ck)
                w = e / e.sum()
        c[k] = ck
    return c


def ranks(scores, truth, cluster_ids):
    out = []
    for row, t in zip(scores, truth):
        better = (row > row[t]) | ((row == row[t]) & (cluster_ids < cluster_ids[t]))
        out.append(1 + int(better.sum()))
    return np.array(out)


def metrics(r):
    return {"recallAt1": float((r == 1).mean()), "recallAt5": float((r <= 5).mean()), "mrr": float((1 / r).mean()), "queries": int(len(r))}


def held_out(job):
    d = job["dimensions"]
    q = np.array(job["questions"], dtype=np.float64).reshape(-1, d)
    cluster = np.array(job["questionCluster"])
    answers = normalize_rows(np.array(job["answers"], dtype=np.float64).reshape(-1, d))
    h = answers.shape[0]
    fold = np.array(job["fold"])
    selected = np.array(job["selected"], dtype=bool)
    cluster_ids = np.array(job["clusterIds"])
    all_ranks = {t: [] for t in job["temperatures"]}
    direct = []
    for f in range(job["folds"]):
        test = np.where((fold == f) & selected)[0]
        if len(test) == 0:
            continue
        train = fold != f
        c = centroids(q[train], cluster[train], h, job["centroid"])
        qt = normalize_rows(q[test])
        sims = qt @ c.T
        direct.extend(ranks(qt @ answers.T, cluster[test], cluster_ids))
        for t in job["temperatures"]:
            z = sims / t
            w = np.exp(z - z.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            p = normalize_rows(w @ answers)
            all_ranks[t].extend(ranks(p @ answers.T, cluster[test], cluster_ids))
    return {
        "curve": [{"temperature": t, **metrics(np.array(all_ranks[t]))} for t in job["temperatures"]],
        "direct": metrics(np.array(direct)),
    }


def adapter_objective(job):
    """Loss and analytic gradient of the adapter objective in float64, checked here against
    central finite differences so that the reference itself cannot be quietly wrong."""
    d = job["dimensions"]
    q = normalize_rows(np.array(job["questions"], dtype=np.float64).reshape(-1, d))
    y = np.array(job["questionCluster"])
    t = normalize_rows(np.array(job["targets"], dtype=np.float64).reshape(-1, d))
    tau, lam = job["temperature"], job["lambda"]
    w0 = np.array(job["adapter"], dtype=np.float64).reshape(d, d)
    n = len(y)

    def loss(w):
        r = q @ w.T
        z = normalize_rows(r) @ t.T / tau
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(n), y].mean() + lam * ((w - np.eye(d)) ** 2).sum()

    r = q @ w0.T
    u = np.linalg.norm(r, axis=1, keepdims=True)
    rh = r / u
    z = rh @ t.T / tau
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), y] -= 1
    g = (p @ t) / (tau * n)
    dr = (g - rh * (rh * g).sum(1, keepdims=True)) / u
    grad = dr.T @ q + 2 * lam * (w0 - np.eye(d))
    eps = 1e-6
    fd = np.zeros_like(w0)
    for i in range(d):
        for j in range(d):
            e = np.zeros_like(w0)
            e[i, j] = eps
            fd[i, j] = (loss(w0 + e) - loss(w0 - e)) / (2 * eps)
    assert np.abs(fd - grad).max() < 1e-6 * max(1, np.abs(grad).max()), "analytic gradient disagrees with finite differences"
    return {"loss": float(loss(w0)), "gradient": grad.ravel().tolist()}


def main():
    job = json.load(sys.stdin)
    if job["kind"] == "centroids":
        d = job["dimensions"]
        q = np.array(job["questions"], dtype=np.float64).reshape(-1, d)
        c = centroids(q, np.array(job["questionCluster"]), job["numClusters"], job["method"])
        json.dump({"centroids": c.ravel().tolist()}, sys.stdout)
    elif job["kind"] == "adapter_objective":
        json.dump(adapter_objective(job), sys.stdout)
    else:
        json.dump(held_out(job), sys.stdout)


if __name__ == "__main__":
    main()
