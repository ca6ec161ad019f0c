"""NumPy side of the @ldakit/npy test-suite.

Reads one JSON request on stdin, prints one JSON answer on stdout.
Driven by numpy-helper.ts; every command is batched so a test file starts Python once.

Requests (field "cmd"):
  version   -> {"numpy": "2.2.6"}
  generate  {"dir", "cases": [{"name", "descr", "shape", "order": "C"|"F",
             "writer": "save"|"v1"|"v2"|"v3"|"v2-long", "seed"}]}
            Writes <dir>/<name>.npy with NumPy and <dir>/<name>.raw holding the data as
            @ldakit/npy must hold it in memory: little-endian, in the file's element order.
  check     {"files": [{"file", "raw", "descr", "shape", "fortranOrder"}]}
            Loads ldakit-written files with np.load(allow_pickle=False); "raw" holds the
            expected values as little-endian bytes in C order.
  tryload   {"files": [{"file", "maxHeaderSize"?, "mmap"?, "probe"?}]} -> whether np.load
            accepts each file (memory-mapped when "mmap"), with the values at "probe" indices.
  summary   {"file"} -> dtype, shape, fortran flag, sum and a few samples.
"""

import io
import json
import sys
import warnings

try:
    import numpy as np
    from numpy.lib import format as npformat
except ImportError as exc:  # pragma: no cover - reported by numpy-helper.ts
    print(f"LDAKIT_NUMPY_MISSING: {exc}", file=sys.stderr)
    sys.exit(3)


def native(dt):
    """The little-endian (in-memory) version of a dtype, as @ldakit/npy reports it."""
    return dt.newbyteorder("<")


def make_values(dt, shape, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    nd = native(dt)
    if nd.kind == "b":
        a = rng.integers(0, 2, n).astype(np.bool_)
    elif nd.kind in "iu":
        info = np.iinfo(nd)
        a = rng.integers(info.min, info.max, n, dtype=nd, endpoint=True)
        specials = np.array([info.min, info.max, 0, 1], dtype=nd)
        k = min(n, len(specials))
        a[:k] = specials[:k]
    elif nd.kind == "f":
        a = (rng.standard_normal(n) * 1000).astype(nd)
        fi = np.finfo(nd)
        specials = np.array(
            [np.nan, np.inf, -np.inf, -0.0, fi.max, fi.tiny / 4, -fi.tiny, 1.0], dtype=nd
        )
        k = min(n, len(specials))
        a[:k] = specials[:k]
    else:
        raise ValueError(f"no value generator for {dt}")
    return a.reshape(shape)


def header_info(path):
    with open(path, "rb") as fp:
        version = npformat.read_magic(fp)
        shape, fortran, dtype = npformat._read_array_header(fp, version, max_header_size=10**9)
        offset = fp.tell()
    return {
        "version": list(version),
        "shape": list(shape),
        "fortranOrder": bool(fortran),
        "descr": dtype.str,
        "dataOffset": offset,
    }


def cmd_generate(req):
    out = []
    for case in req["cases"]:
        dt = np.dtype(case["descr"])
        shape = tuple(case["shape"])
        arr = make_values(dt, shape, case.get("seed", 0))
        if case.get("order", "C") == "F":
            arr = np.asfortranarray(arr)
        arr = arr.astype(dt)  # order='K' keeps the layout
        path = f"{req['dir']}/{case['name']}.npy"
        writer = case.get("writer", "save")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if writer == "save":
                np.save(path, arr)
            elif writer in ("v1", "v2", "v3"):
                version = {"v1": (1, 0), "v2": (2, 0), "v3": (3, 0)}[writer]
                with open(path, "wb") as fp:
                    npformat.write_array(fp, arr, version=version)
            elif writer == "v2-long":
                # A header longer than 65535 bytes: NumPy itself switches to format 2.0.
                d = npformat.header_data_from_array_1_0(arr)
                header = "{" + "".join(f"'{k}': {v!r}, " for k, v in sorted(d.items())) + "}"
                header += " " * 70000
                with open(path, "wb") as fp:
                    fp.write(npformat._wrap_header_guess_version(header))
                    (arr.T if d["fortran_order"] else arr).tofile(fp)
            else:
                raise ValueError(f"unknown writer {writer}")
        info = header_info(path)
        back = np.load(path, allow_pickle=False, max_header_size=10**9)
        assert back.dtype == arr.dtype and back.shape == arr.shape
        assert back.tobytes("A") == arr.tobytes("A")
        order = "F" if info["fortranOrder"] else "C"
        raw_path = f"{req['dir']}/{case['name']}.raw"
        with open(raw_path, "wb") as fp:
            fp.write(arr.astype(native(dt)).tobytes(order=order))
        out.append(
            {
                "name": case["name"],
                "file": path,
                "raw": raw_path,
                "descr": info["descr"],
                "nativeDescr": native(dt).str,
                "shape": info["shape"],
                "fortranOrder": info["fortranOrder"],
                "version": info["version"],
                "dataOffset": info["dataOffset"],
            }
        )
    return out


def cmd_check(req):
    out = []
    for spec in req["files"]:
        res = {"file": spec["file"], "ok": False}
        try:
            info = header_info(spec["file"])
            arr = np.load(spec["file"], allow_pickle=False)
            with open(spec["raw"], "rb") as fp:
                raw = fp.read()
            got = np.ascontiguousarray(arr.astype(native(arr.dtype))).tobytes()
            buf = io.BytesIO()
            np.save(buf, arr)
            with open(spec["file"], "rb") as fp:
                file_bytes = fp.read()
            res.update(
                {
                    "descr": info["descr"],
                    "shape": list(arr.shape),
                    "fortranOrder": info["fortranOrder"],
                    "version": info["version"],
                    "fContiguous": bool(arr.flags.f_contiguous),
                    "cContiguous": bool(arr.flags.c_contiguous),
                    "valuesEqual": got == raw,
                    "resaveEqual": buf.getvalue() == file_bytes,
                    "ok": True,
                }
            )
        except Exception as exc:  # noqa: BLE001 - reported to the test
            res["error"] = f"{type(exc).__name__}: {exc}"
        out.append(res)
    return out


def cmd_tryload(req):
    out = []
    for spec in req["files"]:
        kw = {}
        if spec.get("maxHeaderSize") is not None:
            kw["max_header_size"] = spec["maxHeaderSize"]
        if spec.get("mmap"):
            kw["mmap_mode"] = "r"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.load(spec["file"], allow_pickle=False, **kw)
            res = {"ok": True, "descr": arr.dtype.str, "shape": list(arr.shape)}
            if spec.get("probe"):
                flat = arr.reshape(-1)
                res["values"] = [flat[i].item() for i in spec["probe"]]
            out.append(res)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return out


def cmd_summary(req):
    arr = np.load(req["file"], allow_pickle=False)
    info = header_info(req["file"])
    flat = arr.reshape(-1, order="C")
    idx = [0, flat.size // 3, flat.size // 2, flat.size - 1] if flat.size else []
    return {
        "descr": info["descr"],
        "shape": list(arr.shape),
        "fortranOrder": info["fortranOrder"],
        "sum": float(arr.sum(dtype=np.float64)),
        "samples": [[int(i), float(flat[i])] for i in idx],
    }


def main():
    req = json.load(sys.stdin)
    cmd = req["cmd"]
    if cmd == "version":
        res = {"numpy": np.__version__}
    elif cmd == "generate":
        res = cmd_generate(req)
    elif cmd == "check":
        res = cmd_check(req)
    elif cmd == "tryload":
        res = cmd_tryload(req)
    elif cmd == "summary":
        res = cmd_summary(req)
    else:
        raise ValueError(f"unknown command {cmd}")
    json.dump({"numpy": np.__version__, "result": res}, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
