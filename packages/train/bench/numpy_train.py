"""NumPy doing the same math as @ldakit/train, for bench.mjs: weighted centroids of all questions
and the k-fold held-out temperature evaluation on the same folds and sample; or, with `adapter`
as the first argument, the query adapter's Adam steps on the same mini-batches. Prints JSON timings."""
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


def adapter_steps(q, cluster, targets, batches, temperature, lam, lr):
    """trainAdapter's steps with the gradient written out: loss = mean cross-entropy of
    softmax(normalize(W q̂) · t̂_k / τ) against each question's head + λ‖W − I‖²_F, and Adam as
    tf.train.adam does it (β1 0.9, β2 0.999, ε 1e-7 added to the root of the corrected second moment)."""
    f32 = np.float32
    beta1, beta2, eps = f32(0.9), f32(0.999), f32(1e-7)
    lr, lam, inv_t = f32(lr), f32(lam), f32(1 / temperature)
    q = normalize_rows(q)
    t = normalize_rows(targets)
    t_t = np.ascontiguousarray(t.T)
    d = q.shape[1]
    eye = np.eye(d, dtype=f32)
    w = eye.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    acc1, acc2 = beta1, beta2
    losses = []
    for rows in batches:
        x = q[rows]
        y = cluster[rows]
        n = len(rows)
        u = x @ w.T
        norm = np.maximum(np.linalg.norm(u, axis=1, keepdims=True), f32(1e-12))
        r = u / norm
        z = (r @ t_t) * inv_t
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        total = e.sum(1, keepdims=True)
        picked = np.arange(n)
        diff = w - eye
        losses.append(float(-np.mean(z[picked, y] - np.log(total[:, 0])) + lam * np.sum(diff * diff)))
        g_z = e / total
        g_z[picked, y] -= 1
        g_z /= f32(n)
        g_r = (g_z @ t) * inv_t
        # Through r = u/‖u‖: only the part of the gradient orthogonal to r moves it.
        g_u = (g_r - r * np.einsum("ij,ij->i", r, g_r)[:, None]) / norm
        g = g_u.T @ x + f32(2) * lam * diff
        m = beta1 * m + (f32(1) - beta1) * g
        v = beta2 * v + (f32(1) - beta2) * (g * g)
        w = w - lr * (m / (f32(1) - acc1)) / (np.sqrt(v / (f32(1) - acc2)) + eps)
        acc1 *= beta1
        acc2 *= beta2
    return w, losses


def adapter_main():
    folder = sys.argv[2]
    temperature, lam, lr = (float(a) for a in sys.argv[3:6])
    q = np.load(f"{folder}/adapter_questions.npy")
    cluster = np.load(f"{folder}/cluster.npy")
    targets = np.load(f"{folder}/targets.npy")
    flat = np.load(f"{folder}/batch_rows.npy")
    bounds = np.cumsum(np.load(f"{folder}/batch_sizes.npy"))[:-1]
    batches = np.split(flat, bounds)

    start = time.perf_counter()
    w, losses = adapter_steps(q, cluster, targets, batches, temperature, lam, lr)
    adapter_s = time.perf_counter() - start
    np.save(f"{folder}/numpy_adapter.npy", w)
    json.dump({"adapter_s": adapter_s, "loss": losses, "numpy": np.__version__}, sys.stdout)


def main():
    if sys.argv[1] == "adapter":
        adapter_main()
        return
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
