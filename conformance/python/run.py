#!/usr/bin/env python3
"""Conformance runner with NumPy as the independent reader.

    python3 conformance/python/run.py [--fixtures DIR] [--expected-failures FILE] [--run SUBSTR]

Reads fixtures/manifest.json and checks every case with NumPy alone:
- npy-valid: np.load (with the case's max_header_size) gives the recorded dtype, shape, order,
  header version and data (SHA-256 of the little-endian C-order bytes, and of the float64
  values); files flagged np_save_identical are byte-for-byte what np.save writes today;
- npy-invalid: np.load rejects the file, or, where the manifest records that NumPy is lenient
  (trailing bytes, complex dtypes, ...), still accepts it; the line then says so;
- heads: discovery by the file convention, the vectors' dtypes and shapes, the adapter W and
  blend β of ldakit.mh/2 (docs/FORMAT.md §4), and the projection math (docs/FORMAT.md §6)
  against the expected routing weights, blended projections and top-k;
- heads-invalid: trees whose projection a reader must refuse (a missing or malformed adapter,
  β out of range, an edition-1 file with edition-2 keys, an unknown format);
- model_names: the model-name rule of docs/FORMAT.md §1.3 (model_folder below) gives each
  name's folder, or refuses the name.

Prints one line per case and closes with "N passed, N failed"; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

HERE = Path(__file__).resolve().parent
DEFAULT_FIXTURES = HERE.parent.parent / "fixtures"
DEFAULT_EXPECTED = HERE / "expected-failures.txt"


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def le_c_bytes(arr: np.ndarray) -> bytes:
    a = np.ascontiguousarray(arr)
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    return a.tobytes(order="C")


def f64_bytes(arr: np.ndarray) -> bytes:
    with np.errstate(invalid="ignore"):
        a = np.ascontiguousarray(arr).astype("<f8")
    bits = a.view("<u8").copy()
    bits[np.isnan(a)] = 0x7FF8000000000000
    return bits.tobytes()


def load(path: Path, max_header_size: int | None):
    kw = {} if max_header_size is None else {"max_header_size": max_header_size}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.load(path, allow_pickle=False, **kw)


class Failure(Exception):
    pass


def check(cond: bool, message: str) -> None:
    if not cond:
        raise Failure(message)


def check_fixture(fixtures: Path, case: dict) -> Path:
    path = fixtures / case["path"]
    check(sha256(path.read_bytes()) == case["file_sha256"],
          "the fixture file differs from the manifest's file_sha256 (regenerate with "
          "python3 fixtures/generate.py)")
    return path


def run_valid(fixtures: Path, manifest: dict, case: dict) -> str:
    path = check_fixture(fixtures, case)
    mhs = case.get("max_header_size", manifest["default_max_header_size"])
    arr = load(path, mhs)
    with open(path, "rb") as fp:
        version = npformat.read_magic(fp)
        reader = npformat.read_array_header_1_0 if version == (1, 0) else \
            npformat.read_array_header_2_0  # 3.0 differs from 2.0 only in the text's encoding
        shape, fortran, dtype = reader(fp, max_header_size=mhs)
    problems = []
    if list(version) != case["version"]:
        problems.append(f"version {version}, expected {case['version']}")
    if arr.dtype.str != case["descr"] or dtype.str != case["descr"]:
        problems.append(f"descr {arr.dtype.str}, expected {case['descr']}")
    if list(arr.shape) != case["shape"]:
        problems.append(f"shape {list(arr.shape)}, expected {case['shape']}")
    if bool(fortran) != case["fortran_order"]:
        problems.append(f"fortran_order {fortran}, expected {case['fortran_order']}")
    if sha256(le_c_bytes(arr)) != case["data_sha256"]:
        problems.append("data bytes differ")
    if sha256(f64_bytes(arr)) != case["float64_sha256"]:
        problems.append("float64 values differ")
    if case["np_save_identical"]:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        if buf.getvalue() != path.read_bytes():
            problems.append("np.save no longer writes these bytes for this array")
    check(not problems, "; ".join(problems))
    return ""


def run_invalid(fixtures: Path, manifest: dict, case: dict) -> str:
    path = check_fixture(fixtures, case)
    try:
        arr = load(path, case.get("max_header_size"))
    except Exception as exc:  # noqa: BLE001 - any rejection counts
        check(case["numpy"] == "rejects",
              f"np.load now rejects it ({type(exc).__name__}: {exc}); the manifest says NumPy "
              "accepts it: regenerate the fixtures")
        return ""
    check(case["numpy"] == "accepts",
          f"np.load accepts it as {arr.dtype.str} {list(arr.shape)}; expected it to be rejected "
          f"(ldakit's code: {case['code']})")
    if case["code"] == "UNSUPPORTED_DTYPE":
        return (f" (valid for NumPy, which reads it as {arr.dtype.str} {list(arr.shape)}; "
                f"outside ldakit's dtypes: UNSUPPORTED_DTYPE)")
    return (f" (NumPy is lenient: np.load reads it as {arr.dtype.str} {list(arr.shape)}; "
            f"ldakit raises {case['code']})")


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/")


def model_name_problem(name: str) -> str | None:
    """Why `name` is not a model name (docs/FORMAT.md §1.3), or None when it is."""
    if name == "":
        return "the name is empty"
    # Python strings index code points, so positions count characters as the rule's text does.
    for position, ch in enumerate(name, start=1):
        if ch not in NAME_CHARS:
            return (f"character {json.dumps(ch)} (U+{ord(ch):04X}) at position {position} is not "
                    'allowed; use letters A-Z a-z, digits, ".", "_", "-" and "/"')
    if name.startswith("/"):
        return 'the name starts with "/"; "/" separates parts and no part may be empty'
    if name.endswith("/"):
        return 'the name ends with "/"; "/" separates parts and no part may be empty'
    doubled = name.find("//")
    if doubled >= 0:
        return (f'"//" at position {doubled + 1} leaves an empty part; separate parts with a '
                'single "/"')
    folder = name.replace("/", "__")
    if folder in (".", ".."):
        return f'"{folder}" is not a usable folder name'
    return None


def model_folder(name: str) -> str:
    problem = model_name_problem(name)
    if problem is not None:
        raise ValueError(f"invalid model name {json.dumps(name)}: {problem}")
    return name.replace("/", "__")


def run_model_name(entry: dict) -> str:
    name = entry["name"]
    try:
        folder = model_folder(name)
    except ValueError as exc:
        check(entry.get("error") is True,
              f"{json.dumps(name)} is refused ({exc}); expected the folder "
              f"{json.dumps(entry.get('folder'))}")
        return ""
    check(entry.get("error") is not True,
          f"{json.dumps(name)} is accepted as the folder {json.dumps(folder)}; expected it to be "
          f"refused ({entry.get('why')})")
    check(folder == entry["folder"],
          f"{json.dumps(name)} gives the folder {json.dumps(folder)}, expected "
          f"{json.dumps(entry['folder'])}")
    return ""


META_FORMATS = ("ldakit.mh/1", "ldakit.mh/2")


def meta_problem(meta: dict, mh_id: int) -> str | None:
    """Why an mh_<id>.json is not one this reader may use (docs/FORMAT.md §4, §7), or None.
    Edition 2 adds "adapter" (exactly "mh_<id>_W.npy" or null) and "blend" (β in [0, 1],
    absent = 1); an edition-1 file carrying either with a non-default value is refused, since
    an edition-1 reader would silently rank without them."""
    fmt = meta.get("format")
    if fmt not in META_FORMATS:
        return f"format is {fmt!r}; this reader knows {', '.join(META_FORMATS)}"
    adapter = meta.get("adapter")
    blend = meta.get("blend", 1)
    if adapter is not None and adapter != f"mh_{mh_id}_W.npy":
        return f"adapter is {adapter!r}; it must be \"mh_{mh_id}_W.npy\" or null"
    if isinstance(blend, bool) or not isinstance(blend, (int, float)) or not (0 <= blend <= 1):
        return f"blend is {blend!r}; it must be a number from 0 to 1"
    if fmt == "ldakit.mh/1" and (adapter is not None or blend != 1):
        return "an ldakit.mh/1 file carries an adapter or a blend; that needs ldakit.mh/2"
    return None


def discover(root: Path) -> list[dict]:
    found = []
    for meta_path in sorted((root / "embeddings").glob("*/mh_*.json")):
        m = re.fullmatch(r"mh_([0-9]+)\.json", meta_path.name)
        if not m:
            continue
        meta = json.loads(meta_path.read_text())
        check(meta["mh_projection_id"] == int(m.group(1)), f"{meta_path}: id differs from name")
        problem = meta_problem(meta, int(m.group(1)))
        check(problem is None, f"{meta_path}: {problem}")
        try:
            folder = model_folder(meta["model"])
        except ValueError as exc:
            raise Failure(f"{meta_path}: {exc}") from None
        check(folder == meta_path.parent.name,
              f"{meta_path}: model {meta['model']!r} in folder {meta_path.parent.name!r}")
        found.append({"mh_id": meta["mh_projection_id"], "model": meta["model"],
                      "dir": meta_path.parent, "meta": meta})
    return found


def load_adapter(proj: dict, d: int) -> np.ndarray | None:
    """W as float64 (d, d), or None when the projection has none."""
    name = proj["meta"].get("adapter")
    if name is None:
        return None
    path = proj["dir"] / name
    check(path.is_file(), f"{name}: the adapter file named in mh_{proj['mh_id']}.json is missing")
    w = load(path, None)
    check(w.dtype.str in ("<f4", "<f8", ">f4", ">f8"),
          f"{name}: dtype {w.dtype.str}; an adapter is f4 or f8")
    check(w.shape == (d, d), f"{name}: shape {w.shape}, expected ({d}, {d})")
    check(bool(np.isfinite(w).all()), f"{name}: the adapter holds non-finite values")
    return w.astype(np.float64)


def run_heads(fixtures: Path, manifest: dict, case: dict) -> str:
    root = fixtures / case["root"]
    tol = case["tolerance"]
    found = discover(root)
    got = sorted((d["mh_id"], d["model"]) for d in found)
    want = sorted((d["mh_id"], d["model"]) for d in case["discover"])
    check(got == want, f"discover found {got}, expected {want}")
    (proj,) = [d for d in found if d["mh_id"] == case["mh_id"]]
    meta = proj["meta"]
    for key in ("model", "dimensions", "temperature", "num_heads"):
        check(meta[key] == case[key], f"mh_{case['mh_id']}.json: {key} is {meta[key]!r}, "
                                      f"expected {case[key]!r}")
    ids = np.array(meta["cluster_ids"], dtype=np.int64)
    check(len(ids) == meta["num_heads"] and len(set(ids.tolist())) == len(ids),
          "cluster_ids: wrong count or duplicates")
    d = meta["dimensions"]
    vectors = {}
    for role, descr_key in (("centroid", "centroid_descr"), ("answer", "answer_descr")):
        rows = []
        for cid in ids:
            p = proj["dir"] / f"mh_{case['mh_id']}_cluster_{cid}_{role}.npy"
            v = load(p, None)
            check(v.dtype.str == case[descr_key] and v.dtype.str in ("<f4", "<f8"),
                  f"{p.name}: dtype {v.dtype.str}, expected {case[descr_key]}")
            check(v.shape == (d,), f"{p.name}: shape {v.shape}, expected ({d},)")
            rows.append(v.astype(np.float64))
        vectors[role] = unit(np.stack(rows))
    w_matrix = load_adapter(proj, d)
    blend = meta.get("blend", 1)
    check((w_matrix is not None) == (case.get("adapter_descr") is not None),
          f"adapter {'present' if w_matrix is not None else 'absent'}; the manifest says "
          f"{case.get('adapter_descr')!r}")
    check(blend == case.get("blend", 1), f"blend is {blend!r}, expected {case.get('blend', 1)!r}")
    check(meta["format"] == case.get("format", "ldakit.mh/1"), f"format is {meta['format']!r}")
    exp = {k: load(fixtures / rel, None) for k, rel in case["files"].items()}
    q = unit(exp["queries"].astype(np.float64))
    # routing by r̂ = normalize(W q̂) (r_i = sum_j W[i, j] q̂_j), or by q̂ without an adapter
    r = q if w_matrix is None else unit(q @ w_matrix.T)
    logits = r @ vectors["centroid"].T / meta["temperature"]
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    p = unit(w @ vectors["answer"])
    if blend != 1:
        # b̂ = normalize(β p + (1 - β) q̂); the fixtures have no cancelling b = 0
        p = unit(blend * p + (1 - blend) * q)
    problems = []
    if not np.allclose(w, exp["weights"], rtol=0, atol=tol):
        problems.append(f"weights differ by {np.abs(w - exp['weights']).max():.3g}")
    if not np.allclose(p, exp["projected"], rtol=0, atol=tol):
        problems.append(f"projections differ by {np.abs(p - exp['projected']).max():.3g}")
    k = case["k"]
    for name, scores in (("top", p @ vectors["answer"].T), ("direct", q @ vectors["answer"].T)):
        order = np.lexsort((np.broadcast_to(ids, scores.shape), -scores), axis=1)[:, :k]
        top_ids = ids[order]
        top_scores = np.take_along_axis(scores, order, axis=1)
        exp_ids = exp[f"{name}_ids"]
        exp_scores = exp["top_scores" if name == "top" else "direct_scores"]
        if not np.array_equal(top_ids, exp_ids):
            row = int(np.argmax((top_ids != exp_ids).any(axis=1)))
            problems.append(f"{name} ids of query {row}: {top_ids[row].tolist()}, "
                            f"expected {exp_ids[row].tolist()}")
        if not np.allclose(top_scores, exp_scores, rtol=0, atol=tol):
            problems.append(f"{name} scores differ by {np.abs(top_scores - exp_scores).max():.3g}")
    check(not problems, "; ".join(problems))
    return ""


def run_heads_invalid(fixtures: Path, manifest: dict, case: dict) -> str:
    """The tree's projection must be refused, by discovery or by loading; the line says why."""
    root = fixtures / case["root"]
    try:
        (proj,) = [d for d in discover(root) if d["mh_id"] == case["mh_id"]]
        load_adapter(proj, proj["meta"]["dimensions"])
    except (Failure, ValueError, OSError) as exc:
        check(str(exc) != "", "refused with an empty message")
        return f" (refused: {exc})"
    raise Failure(f"loaded; expected it to be refused: {case['why']}")


def read_expected_failures(path: Path | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if path is None or not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        out[name] = reason.strip()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    ap.add_argument("--expected-failures", type=Path, default=DEFAULT_EXPECTED)
    ap.add_argument("--run", default="", help="only cases whose name contains this")
    args = ap.parse_args()

    manifest = json.loads((args.fixtures / "manifest.json").read_text())
    if "model_names" not in manifest:
        print("manifest.json: no model_names table (regenerate with python3 fixtures/generate.py)",
              file=sys.stderr)
        return 2
    expected = read_expected_failures(args.expected_failures)
    runners = {"npy-valid": run_valid, "npy-invalid": run_invalid, "heads": run_heads,
               "heads-invalid": run_heads_invalid}
    passed = failed = xfails = 0
    names = set()
    if manifest["numpy"] != np.__version__:
        print(f"# note: fixtures were written by NumPy {manifest['numpy']}, this is "
              f"{np.__version__}")
    # Every check is (the name its line prints, the check); model names are checked after the
    # file cases and counted with them.
    checks = [(case["name"],
               lambda case=case: runners[case["kind"]](args.fixtures, manifest, case))
              for case in manifest["cases"]]
    checks += [(entry["case"], lambda entry=entry: run_model_name(entry))
               for entry in manifest["model_names"]]
    for label, run_check in checks:
        names.add(label)
        if args.run not in label:
            continue
        try:
            note = run_check()
            why = None
        except Failure as exc:
            why = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported as the case's failure
            why = f"{type(exc).__name__}: {exc}"
        listed = label in expected
        if why is None and not listed:
            passed += 1
            print(f"ok  {label}{note}")
        elif why is None:
            failed += 1
            print(f"FAIL {label}: passes but is listed in expected-failures "
                  f"({expected[label]}); remove the stale entry")
        elif listed:
            passed += 1
            xfails += 1
            print(f"xfail {label}: {why} (expected failure: {expected[label]})")
        else:
            failed += 1
            print(f"FAIL {label}: {why}")
    for name in expected:
        if name not in names:
            failed += 1
            print(f"FAIL {name}: listed in expected-failures but the manifest has no such case; "
                  "remove the stale entry")
    if xfails:
        print(f"({xfails} of the passed are expected failures listed in {args.expected_failures})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
