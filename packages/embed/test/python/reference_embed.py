#!/usr/bin/env python3
"""Independent float64 reference for sentence-transformers BERT models.

Reads a sentence-transformers model folder with nothing but NumPy, `tokenizers` and
`safetensors` (PyPI; versions pinned in tools/requirements-embed.txt) - no project code, no
torch - and runs the BERT forward pass in float64, one text at a time (no padding, no mask), then
the pooling that 1_Pooling/config.json asks for and Normalize when modules.json lists it.

Usage:
    python3 reference_embed.py MODEL_DIR TEXTS.json OUT.json

TEXTS.json is a JSON array of strings. OUT.json gets
    {"vectors": [[float, ...], ...], "ids": [[int, ...], ...], "versions": {...}}
"""

import json
import math
import os
import sys

import numpy as np
import safetensors
import tokenizers
from safetensors.numpy import load_file
from tokenizers import Tokenizer


# --- erf in float64 (W. J. Cody's rational Chebyshev approximations, |error| < 1e-15) ---------

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRPI = 5.6418958354775628695e-1  # 1/sqrt(pi)


def erf(x):
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    out = np.empty_like(x)

    small = ax <= 0.46875
    if np.any(small):
        y = ax[small]
        z = y * y
        num = _A[4] * z
        den = z
        for i in range(3):
            num = (num + _A[i]) * z
            den = (den + _B[i]) * z
        out[small] = y * (num + _A[3]) / (den + _B[3])

    mid = (ax > 0.46875) & (ax <= 4.0)
    if np.any(mid):
        y = ax[mid]
        num = _C[8] * y
        den = y
        for i in range(7):
            num = (num + _C[i]) * y
            den = (den + _D[i]) * y
        erfc = (num + _C[7]) / (den + _D[7])
        z = np.trunc(y * 16.0) / 16.0
        erfc = np.exp(-z * z) * np.exp(-(y - z) * (y + z)) * erfc
        out[mid] = 1.0 - erfc

    big = ax > 4.0
    if np.any(big):
        y = ax[big]
        z = 1.0 / (y * y)
        num = _P[5] * z
        den = z
        for i in range(4):
            num = (num + _P[i]) * z
            den = (den + _Q[i]) * z
        erfc = z * (num + _P[4]) / (den + _Q[4])
        erfc = (_SQRPI - erfc) / y
        z = np.trunc(y * 16.0) / 16.0
        erfc = np.exp(-z * z) * np.exp(-(y - z) * (y + z)) * erfc
        out[big] = 1.0 - erfc

    return np.where(x < 0, -out, out)


def _check_erf():
    grid = np.linspace(-7.0, 7.0, 20001)
    want = np.array([math.erf(v) for v in grid])
    err = np.max(np.abs(erf(grid) - want))
    if err > 1e-14:
        raise SystemExit(f"erf self-check failed: max error {err}")


# --- the model ---------------------------------------------------------------------------------

def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Reference:
    def __init__(self, model_dir):
        modules = load_json(os.path.join(model_dir, "modules.json"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[0] != "Transformer":
            raise SystemExit("first module is not a Transformer")
        tdir = os.path.join(model_dir, modules[0].get("path", ""))
        self.normalize = "Normalize" in kinds
        pool_mod = modules[kinds.index("Pooling")]
        pcfg = load_json(os.path.join(model_dir, pool_mod["path"], "config.json"))
        self.pooling = [
            mode
            for key, mode in (
                ("pooling_mode_cls_token", "cls"),
                ("pooling_mode_max_tokens", "max"),
                ("pooling_mode_mean_tokens", "mean"),
                ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
            )
            if pcfg.get(key)
        ]

        cfg = load_json(os.path.join(tdir, "config.json"))
        if cfg.get("model_type") != "bert":
            raise SystemExit("not a BERT model")
        self.H = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nl = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise SystemExit("this reference implements hidden_act gelu (erf) only")

        st_cfg_path = os.path.join(tdir, "sentence_bert_config.json")
        st_cfg = load_json(st_cfg_path) if os.path.exists(st_cfg_path) else {}
        self.max_len = st_cfg.get("max_seq_length") or cfg.get("max_position_embeddings", 512)
        self.lower = bool(st_cfg.get("do_lower_case", False))

        self.tok = Tokenizer.from_file(os.path.join(tdir, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=self.max_len)

        raw = load_file(os.path.join(tdir, "model.safetensors"))
        pre = "" if "embeddings.word_embeddings.weight" in raw else "bert."
        self.w = {k[len(pre):]: v.astype(np.float64) for k, v in raw.items() if k.startswith(pre)}

    def ln(self, x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def encode(self, text):
        enc = self.tok.encode(text.lower() if self.lower else text)
        return list(enc.ids), list(enc.type_ids)

    def embed(self, text):
        ids, types = self.encode(text)
        n = len(ids)
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self.ln(x, "embeddings.LayerNorm")
        dh = self.H // self.nh
        for layer in range(self.nl):
            p = f"encoder.layer.{layer}"
            q = self.lin(x, p + ".attention.self.query").reshape(n, self.nh, dh).transpose(1, 0, 2)
            k = self.lin(x, p + ".attention.self.key").reshape(n, self.nh, dh).transpose(1, 0, 2)
            v = self.lin(x, p + ".attention.self.value").reshape(n, self.nh, dh).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
            s = s - s.max(-1, keepdims=True)
            e = np.exp(s)
            a = e / e.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(n, self.H)
            x = self.ln(self.lin(ctx, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
            h = self.lin(x, p + ".intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = self.ln(self.lin(h, p + ".output.dense") + x, p + ".output.LayerNorm")
        parts = []
        for mode in self.pooling:
            if mode == "cls":
                parts.append(x[0])
            elif mode == "max":
                parts.append(x.max(0))
            elif mode == "mean":
                parts.append(x.sum(0) / n)
            else:
                parts.append(x.sum(0) / math.sqrt(n))
        out = np.concatenate(parts)
        if self.normalize:
            out = out / max(np.linalg.norm(out), 1e-12)
        return out, ids


def main(argv):
    if len(argv) != 4:
        raise SystemExit(__doc__)
    _check_erf()
    ref = Reference(argv[1])
    texts = load_json(argv[2])
    vectors, all_ids = [], []
    for t in texts:
        v, ids = ref.embed(t)
        vectors.append([float(a) for a in v])
        all_ids.append(ids)
    result = {
        "vectors": vectors,
        "ids": all_ids,
        "versions": {
            "numpy": np.__version__,
            "tokenizers": tokenizers.__version__,
            "safetensors": safetensors.__version__,
        },
    }
    with open(argv[3], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv)
