import { spawnSync } from "node:child_process";

/** How Python's `json` reads one file, strictly (see {@link readWithPython}). */
export interface PythonReading {
  /**
   * `ok`: read, `value` is its JSON (floats for every number); `nonfinite`: read, but holds a
   * number too large for a double; `refused`: see `kind`; `recursion`: nested deeper than
   * Python's recursion limit, so Python cannot tell.
   */
  verdict: "ok" | "nonfinite" | "refused" | "recursion";
  value?: string;
  /** `decode` (invalid UTF-8), `syntax`, `duplicate`, `nul`, `surrogate`, `constant` (NaN, Infinity). */
  kind?: string;
  /** `decode`: the byte offset Python's UTF-8 decoder stopped at. */
  byteOffset?: number;
  message?: string;
  /** Python's ordinary reading (`json.loads`, no hooks) when it succeeds, as JSON. */
  lax?: string;
}

// Python's json keeps the last of repeated keys, reads "\ud800" as a lone surrogate, "\u0000"
// as NUL and NaN/Infinity as floats; the hooks turn each into a refusal so that "Python reads
// it" means what ldakit's reader promises. A UTF-8 byte-order mark is skipped, as ldakit does.
const SCRIPT = String.raw`
import base64, json, math, sys

class Refused(Exception):
    def __init__(self, kind, message, byte_offset=None):
        super().__init__(message)
        self.kind = kind
        self.byte_offset = byte_offset

def pairs(items):
    seen = set()
    for key, _ in items:
        if key in seen:
            raise Refused("duplicate", "duplicate key %r" % key)
        seen.add(key)
    return dict(items)

def constant(name):
    raise Refused("constant", name)

def finite_and_clean(value):
    finite = True
    stack = [value]
    while stack:
        x = stack.pop()
        texts = []
        if isinstance(x, str):
            texts = [x]
        elif isinstance(x, dict):
            texts = list(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, float):
            finite = finite and math.isfinite(x)
        for s in texts:
            if "\x00" in s:
                raise Refused("nul", "NUL in a string")
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                raise Refused("surrogate", "lone surrogate")
    return finite

for line in sys.stdin:
    data = base64.b64decode(line)
    out = {}
    try:
        bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        try:
            text = data[bom:].decode("utf-8")
        except UnicodeDecodeError as e:
            raise Refused("decode", str(e), e.start + bom)
        try:
            out["lax"] = json.dumps(json.loads(text))
        except Exception:
            pass
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=float)
        if finite_and_clean(value):
            out.update(verdict="ok", value=json.dumps(value))
        else:
            out.update(verdict="nonfinite")
    except Refused as e:
        out.update(verdict="refused", kind=e.kind, message=str(e), byteOffset=e.byte_offset)
    except json.JSONDecodeError as e:
        out.update(verdict="refused", kind="syntax", message=str(e))
    except RecursionError:
        out = {"verdict": "recursion"}
    print(json.dumps(out))
`;

/** Reads each input with Python's `json` (one process for all of them). */
export function readWithPython(inputs: readonly Uint8Array[]): PythonReading[] {
  const stdin = inputs.map((b) => Buffer.from(b).toString("base64")).join("\n");
  const run = spawnSync("python3", ["-c", SCRIPT], {
    input: `${stdin}\n`,
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr || run.error}`);
  const lines = run.stdout.trim().split("\n");
  if (lines.length !== inputs.length) {
    throw new Error(`python3 read ${lines.length} of ${inputs.length} inputs`);
  }
  return lines.map((l) => JSON.parse(l) as PythonReading);
}
