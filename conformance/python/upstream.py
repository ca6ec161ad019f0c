#!/usr/bin/env python3
"""Upstream's Python reader (UnifyWeaver's LDAProjectionDB) against a store built by ldakit.

    python3 conformance/python/upstream.py [--keep]

UnifyWeaver's `LDAProjectionDB` (src/unifyweaver/targets/python_runtime/lda_database.py in
s243a/UnifyWeaver) is the Python tool ldakit's store comes from. This runner builds a store with
the ldakit CLI (`migrate --scan --process-pending`, then `train --temperature 0.1`, model
hash-384, the examples/bike-care data), then does with sqlite3 and NumPy what upstream does to
search it: the SQL that its constructor, `get_multi_head_projection`, `get_cluster_heads`,
`load_multi_head_data`, `get_all_answer_embeddings`, `multi_head_search` and `get_answer` run,
and the arithmetic of `multi_head_search`. None of upstream's code is copied: the queries and
the math were written here after reading it, so that a change on either side shows up as a
failing check rather than a silently wrong answer.

Upstream opens every vector file with `np.load(<path stored in the database>)`, so the relative
paths of an ldakit store resolve against its working directory: the checks run from the store's
folder, as a user of upstream must (docs/FORMAT.md §1 and §7).

Checks: every query upstream runs succeeds on the store; its top 5 for each of 14 held-out
questions of examples/bike-care/eval-queries.json are the clusters, in the order, that
`ldakit search --json` gives, with scores within 1e-5 (both sides use the vectors of
`ldakit embed`); the routing weights ldakit reports agree too; and the store still passes
`ldakit verify` after upstream opened it. Prints one line per check and closes with
"N passed, N failed"; exits 1 when anything failed. Needs the packages built (`pnpm build`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLI = REPO / "packages" / "cli" / "dist" / "main.js"
EXAMPLE = REPO / "examples" / "bike-care"
MODEL = "hash-384"
DIMENSIONS = 384
TEMPERATURE = 0.1
TOP_K = 5
TOLERANCE = 1e-5

# The column names of upstream's own `answers` table, which it reads with SELECT *.
UPSTREAM_ANSWER_COLUMNS = [
    "answer_id", "parent_id", "source_file", "record_id",
    "text", "text_variant", "chunk_index", "created_at",
]


class Failure(Exception):
    pass


def check(cond: bool, message: str) -> None:
    if not cond:
        raise Failure(message)


def ldakit(*args: str, cwd: Path) -> str:
    """Runs the built ldakit CLI; its stdout, or a Failure with what it printed."""
    run = subprocess.run(["node", str(CLI), *args], cwd=cwd, capture_output=True, text=True,
                         check=False)
    if run.returncode != 0:
        raise Failure(f"ldakit {' '.join(args)} exited {run.returncode} in {cwd}:\n"
                      f"{run.stdout[-2000:]}{run.stderr[-2000:]}")
    return run.stdout


def held_out_queries() -> list[str]:
    """Both held-out phrasings of every fourth cluster: short keyword queries and questions."""
    data = json.loads((EXAMPLE / "eval-queries.json").read_text())
    return [q for c in data["clusters"][::4] for q in c["queries"]["novel"]]


# --- what upstream does, written from reading lda_database.py -----------------------------------

def open_like_upstream(db_file: str) -> sqlite3.Connection:
    """Upstream's constructor: connect with rows as sqlite3.Row, then create its tables.

    It creates each table with CREATE TABLE IF NOT EXISTS, which leaves any existing table or
    view of that name alone whatever the column list; of its tables the search path reads one
    that ldakit has not, `qa_clusters`, which it then finds empty.
    """
    conn = sqlite3.connect(db_file)
    conn.row_factory = sqlite3.Row
    conn.executescript("""
        CREATE TABLE IF NOT EXISTS answers (answer_id INTEGER PRIMARY KEY, text TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS cluster_heads (head_id INTEGER PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS multi_head_projections (mh_projection_id INTEGER PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS embeddings (embedding_id INTEGER PRIMARY KEY);
        CREATE TABLE IF NOT EXISTS qa_clusters (cluster_id INTEGER PRIMARY KEY, name TEXT);
    """)
    conn.commit()
    return conn


def get_multi_head_projection(conn: sqlite3.Connection, mh_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM multi_head_projections WHERE mh_projection_id = ?",
                       (mh_id,)).fetchone()
    return None if row is None else dict(row)


def get_cluster_heads(conn: sqlite3.Connection, mh_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT ch.*, qc.name AS cluster_name FROM cluster_heads AS ch "
        "LEFT JOIN qa_clusters AS qc ON qc.cluster_id = ch.cluster_id "
        "WHERE ch.mh_projection_id = ? ORDER BY ch.cluster_id", (mh_id,)).fetchall()
    return [dict(r) for r in rows]


def load_multi_head_data(conn: sqlite3.Connection, mh_id: int):
    """Centroids and answers stacked in cluster-id order, the cluster ids, and the per-head
    matrices (None unless some head names one in W_path — KeyError if the column is missing)."""
    heads = get_cluster_heads(conn, mh_id)
    centroids = np.stack([np.load(h["centroid_path"]) for h in heads])
    answers = np.stack([np.load(h["answer_emb_path"]) for h in heads])
    matrices = [np.load(h["W_path"]) if h["W_path"] else None for h in heads]
    return (centroids, answers, [h["cluster_id"] for h in heads],
            matrices if any(m is not None for m in matrices) else None)


def get_all_answer_embeddings(conn: sqlite3.Connection, model_id: int):
    rows = conn.execute(
        "SELECT entity_id, vector_path FROM embeddings "
        "WHERE model_id = ? AND entity_type = 'answer' ORDER BY entity_id", (model_id,)).fetchall()
    return [r["entity_id"] for r in rows], np.stack([np.load(r["vector_path"]) for r in rows])


def get_answer(conn: sqlite3.Connection, answer_id: int) -> dict | None:
    row = conn.execute("SELECT * FROM answers WHERE answer_id = ?", (answer_id,)).fetchone()
    return None if row is None else dict(row)


def rows_to_unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1)


def multi_head_search(conn: sqlite3.Connection, query: np.ndarray, mh_id: int, top_k: int):
    """Upstream's search: softmax routing over the cosines to the centroids at the projection's
    temperature, the routing-weighted mix of the heads' answers (no per-head matrices here), then
    cosine against every answer vector of the model. Computed in the files' dtype (float32), as
    upstream does. Returns the hits (id, score, answer row) and the routing weights by cluster."""
    mh = get_multi_head_projection(conn, mh_id)
    if mh is None:
        raise Failure(f"upstream finds no multi-head projection {mh_id}")
    centroids, head_answers, cluster_ids, matrices = load_multi_head_data(conn, mh_id)
    norm = np.linalg.norm(query)
    q = query / norm if norm > 0 else query
    logits = (rows_to_unit(centroids) @ q) / mh.get("temperature", 1.0)
    weights = np.exp(logits - np.max(logits))
    weights = weights / np.sum(weights)
    if matrices:
        raise Failure("a head has a W_path; ldakit writes none")
    projected = weights @ head_answers
    norm = np.linalg.norm(projected)
    if norm > 0:
        projected = projected / norm
    answer_ids, answer_matrix = get_all_answer_embeddings(conn, mh["model_id"])
    scores = rows_to_unit(answer_matrix) @ projected
    hits = []
    for i in np.argsort(-scores)[:top_k]:
        row = get_answer(conn, answer_ids[i])
        if row is None:
            raise Failure(f"SELECT * FROM answers WHERE answer_id = {answer_ids[i]} found nothing")
        hits.append({"answer_id": answer_ids[i], "score": float(scores[i]), **row})
    return hits, {cid: float(w) for cid, w in zip(cluster_ids, weights)}


# --- the checks ---------------------------------------------------------------------------------

class Run:
    """Counts and prints the checks. A check that needs what an earlier one failed to produce
    fails too ("not run"), so every run reports the same number of checks."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.state: dict = {}

    def need(self, key: str):
        if key not in self.state:
            raise Failure(f"not run: it needs {key!r}, which an earlier check did not give")
        return self.state[key]

    def case(self, name: str, fn) -> bool:
        try:
            note = fn() or ""
        except Failure as exc:
            why = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported as the check's failure
            why = f"{type(exc).__name__}: {exc}"
        else:
            self.passed += 1
            print(f"ok  {name}{note}")
            return True
        self.failed += 1
        print(f"FAIL {name}: {why}")
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the store and print its folder")
    args = ap.parse_args()
    if not CLI.is_file():
        print(f"{CLI.relative_to(REPO)} is missing: run pnpm build first", file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="ldakit-upstream-"))
    store = work / "store"
    store.mkdir()
    db = store / "lda.db"
    queries = held_out_queries()
    run = Run()
    state = run.state

    def build_store() -> str:
        ldakit("--db", str(db), "migrate", "--scan", "--input", str(EXAMPLE / "raw"),
               "--process-pending", "--model", MODEL, cwd=store)
        # Upstream's multi_head_search knows neither the query adapter nor the blend (edition 2 of
        # docs/FORMAT.md): the projection it is to agree with has neither.
        ldakit("--db", str(db), "train", "--model", MODEL, "--temperature", str(TEMPERATURE),
               "--adapter", "none", "--blend", "1", cwd=store)
        (work / "queries.txt").write_text("\n".join(queries) + "\n")
        ldakit("embed", "--model", MODEL, "--input", str(work / "queries.txt"),
               "--out", str(work / "q.npy"), cwd=work)
        q = np.load(work / "q.npy")
        check(q.shape == (len(queries), DIMENSIONS) and q.dtype == np.dtype("<f4"),
              f"ldakit embed wrote {q.dtype.str} {q.shape}")
        state["q"] = q
        return f" (ldakit migrate + train, {MODEL}, T = {TEMPERATURE}; {len(queries)} queries)"

    run.case("store: built by the ldakit CLI", build_store)

    # Everything upstream does from here on, it does from the store's folder.
    os.chdir(store)

    def opens() -> str:
        run.need("q")
        conn = open_like_upstream("lda.db")
        state["conn"] = conn
        kinds = dict(conn.execute(
            "SELECT name, type FROM sqlite_master WHERE name IN ('answers', 'cluster_heads')"))
        check(kinds == {"answers": "view", "cluster_heads": "table"},
              f"after upstream's CREATE TABLE IF NOT EXISTS: {kinds}")
        columns = [r[1] for r in conn.execute("PRAGMA table_info(answers)")]
        check(columns == UPSTREAM_ANSWER_COLUMNS,
              f"answers has columns {columns}, upstream's has {UPSTREAM_ANSWER_COLUMNS}")
        return " (answers is still ldakit's view, with upstream's column names)"

    run.case("open: upstream's constructor on lda.db", opens)

    def projection() -> str:
        conn = run.need("conn")
        mh = get_multi_head_projection(conn, 1)
        check(mh is not None, "no row for projection 1")
        check(mh["temperature"] == TEMPERATURE, f"temperature {mh['temperature']}")
        (model_id,) = conn.execute("SELECT model_id FROM models WHERE name = ?",
                                   (MODEL,)).fetchone()
        check(mh["model_id"] == model_id, f"model_id {mh['model_id']}, {MODEL} is {model_id}")
        state["mh"] = mh
        return f" (num_heads {mh['num_heads']}, temperature {mh['temperature']})"

    def heads() -> str:
        conn, mh = run.need("conn"), run.need("mh")
        rows = get_cluster_heads(conn, 1)
        check(len(rows) == mh["num_heads"],
              f"{len(rows)} heads, num_heads is {mh['num_heads']}")
        ids = [h["cluster_id"] for h in rows]
        check(ids == sorted(ids), "not in cluster-id order")
        state["cluster_ids"] = ids
        check(all("W_path" in h for h in rows), "cluster_heads has no W_path column")
        check(all(h["W_path"] is None for h in rows), "a head has a W_path; ldakit writes none")
        check(all(h["cluster_name"] is None for h in rows), "cluster_name from qa_clusters")
        return f" ({len(rows)} heads, W_path NULL)"

    def data() -> str:
        conn, cluster_ids = run.need("conn"), run.need("cluster_ids")
        centroids, answers, ids, matrices = load_multi_head_data(conn, 1)
        n = len(cluster_ids)
        check(centroids.shape == (n, DIMENSIONS) and answers.shape == (n, DIMENSIONS),
              f"centroids {centroids.shape}, answers {answers.shape}")
        check(centroids.dtype == answers.dtype == np.dtype("<f4"),
              f"dtypes {centroids.dtype.str}, {answers.dtype.str}")
        check(ids == cluster_ids, "cluster ids differ from get_cluster_heads")
        check(matrices is None, "per-head matrices found")
        return f" (centroids and answers {centroids.dtype.str} {centroids.shape}, no W)"

    def relative_paths() -> str:
        (path,) = run.need("conn").execute(
            "SELECT centroid_path FROM cluster_heads WHERE mh_projection_id = 1 LIMIT 1").fetchone()
        check(not os.path.isabs(path), f"stored path {path!r} is absolute")
        os.chdir(work)
        try:
            np.load(path)
        except FileNotFoundError:
            pass
        else:
            raise Failure(f"{path} loads from {work} too")
        finally:
            os.chdir(store)
        np.load(path)
        return f" ({path} loads from the store's folder only)"

    def answer_vectors() -> str:
        conn, mh, cluster_ids = run.need("conn"), run.need("mh"), run.need("cluster_ids")
        ids, matrix = get_all_answer_embeddings(conn, mh["model_id"])
        check(ids == cluster_ids, f"answer ids {ids} are not the heads' cluster ids {cluster_ids}")
        check(matrix.shape == (len(ids), DIMENSIONS), f"shape {matrix.shape}")
        return f" ({len(ids)} answers, embeddings.entity_id = cluster id)"

    run.case("get_multi_head_projection(1)", projection)
    run.case("get_cluster_heads(1)", heads)
    run.case("load_multi_head_data(1)", data)
    run.case("stored paths resolve against the working directory", relative_paths)
    run.case("get_all_answer_embeddings(model)", answer_vectors)

    raw_files = {str(p) for p in (EXAMPLE / "raw").glob("*.json")}
    for i, text in enumerate(queries):
        def compare(i: int = i, text: str = text) -> str:
            hits, routing = multi_head_search(run.need("conn"), run.need("q")[i], 1, TOP_K)
            ours = json.loads(ldakit("--db", "lda.db", "--json", "search", "--mh-id", "1",
                                     "--top-k", str(TOP_K), text, cwd=store))
            theirs = [h["answer_id"] for h in hits]
            want = [r["cluster_id"] for r in ours["results"]]
            check(theirs == want, f"upstream's top {TOP_K} {theirs}, ldakit search {want}")
            worst = 0.0
            for h, r in zip(hits, ours["results"]):
                diff = abs(h["score"] - r["score"])
                check(diff <= TOLERANCE, f"cluster {r['cluster_id']}: score {h['score']} "
                                         f"upstream, {r['score']} ldakit")
                worst = max(worst, diff)
                check(h["text"] == r["answer_text"] and h["record_id"] == r["answer_record_id"],
                      f"answers row of {r['cluster_id']} is not its cluster's answer")
                check(h["source_file"] in raw_files,
                      f"answers.source_file {h['source_file']!r} is not a raw file")
            check(ours["routing"], "ldakit search reported no routing weights")
            for r in ours["routing"]:
                weight = routing[r["cluster_id"]]
                diff = abs(weight - r["weight"])
                check(diff <= TOLERANCE, f"routing weight of cluster {r['cluster_id']}: "
                                         f"{weight} upstream, {r['weight']} ldakit")
                worst = max(worst, diff)
            return f" {theirs} (differences up to {worst:.1e})"
        run.case(f"multi_head_search {text!r} = ldakit search", compare)

    if "conn" in state:
        state["conn"].close()

    def verify() -> str:
        run.need("q")
        out = ldakit("--db", "lda.db", "verify", cwd=store)
        return f" ({out.strip()})"

    run.case("ldakit verify after upstream opened the store", verify)
    return finish(run, work, args.keep)


def finish(run: Run, work: Path, keep: bool) -> int:
    os.chdir(REPO)
    if keep:
        print(f"# the store is kept in {work / 'store'}")
    else:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
