import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  createHashEmbedder,
  DEFAULT_EMBEDDER_NAME,
  type Embedder,
  EmbedderNotAvailableError,
  HashEmbedder,
  hashWords,
  normalizeForHashing,
  parseHashModelName,
  resolveEmbedder,
} from "../src/index.js";

const embedder = createHashEmbedder();
const vec = (text: string) => embedder.embedOne(text);

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

function sha256(v: Float32Array): string {
  return createHash("sha256")
    .update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
    .digest("hex");
}

describe("hash-<d> names and dimensions", () => {
  it("defaults to hash-384 with backend hash", () => {
    expect(embedder).toBeInstanceOf(HashEmbedder);
    expect(embedder).toMatchObject({ name: "hash-384", dimensions: 384, backend: "hash" });
    expect(DEFAULT_EMBEDDER_NAME).toBe("hash-384");
    expect(vec("hello")).toHaveLength(384);
  });

  it("takes any d from 8 to 65536", () => {
    for (const d of [8, 100, 1024, 65536]) {
      const e = createHashEmbedder(d);
      expect(e.name).toBe(`hash-${d}`);
      const v = e.embedOne("some words here");
      expect(v).toHaveLength(d);
      expect(norm(v)).toBeCloseTo(1, 6);
    }
    for (const d of [0, 7, 65537, 38.5, Number.NaN]) {
      expect(() => createHashEmbedder(d), String(d)).toThrow(
        /dimensions must be an integer from 8 to 65536/,
      );
    }
  });

  it("parseHashModelName reads canonical names only", () => {
    expect(parseHashModelName("hash-384")).toBe(384);
    expect(parseHashModelName("hash-8")).toBe(8);
    expect(parseHashModelName("hash-65536")).toBe(65536);
    for (const name of [
      "hash-7",
      "hash-65537",
      "hash-0384",
      "Hash-384",
      "hash-",
      "hash-384x",
      "hash-1e3",
      "hash-+384",
      " hash-384",
      "hash-1000000",
      "all-MiniLM-L6-v2",
    ]) {
      expect(parseHashModelName(name), name).toBeNull();
    }
  });
});

describe("determinism", () => {
  const texts = [
    "How do I read a CSV file?",
    "Stream JSON into LiteDB",
    "",
    "¿Dónde está la configuración?",
  ];

  it("gives the same vector every time, in any batch and any instance", async () => {
    const alone = texts.map((t) => createHashEmbedder().embedOne(t));
    const batch = embedder.embedSync(texts);
    const reversed = embedder.embedSync([...texts].reverse()).reverse();
    const viaAsync = await createHashEmbedder().embed(texts);
    for (let i = 0; i < texts.length; i++) {
      expect(batch[i]).toEqual(alone[i]);
      expect(reversed[i]).toEqual(alone[i]);
      expect(viaAsync[i]).toEqual(alone[i]);
    }
  });

  it("is unaffected by a very long text in between (internal tables grow)", () => {
    const before = vec("compile to bash");
    const long = Array.from({ length: 50_000 }, (_, i) => `word${i}`).join(" ");
    const longVector = vec(long);
    expect(norm(longVector)).toBeCloseTo(1, 5);
    expect(vec("compile to bash")).toEqual(before);
    expect(vec(long)).toEqual(longVector);
  });

  it("pins the algorithm: stored hash-384 vectors stay valid", () => {
    // If this changes, vectors in existing stores no longer match new queries: such a change
    // needs a new model name, not a new expected value.
    expect(sha256(vec("Hello, world!"))).toBe(
      "80fb5bbcc0b6264d1f0b0bafec9665e307db9253897f6796c7b435e3d106b674",
    );
    expect(sha256(createHashEmbedder(64).embedOne("CSV source: csv_file(Path)"))).toBe(
      "8a46cdbb33ef528b34af1853154acda5a29076b6f36823c78ce76ca517849e88",
    );
  });

  it("follows the algorithm documented in hash.ts and the README", () => {
    // A direct, slow transcription of the documented steps.
    const fnv = (seed: number, codePoints: number[]) => {
      let h = seed;
      for (const c of codePoints) h = Math.imul(h ^ c, 16777619);
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      return h | 0;
    };
    const cps = (s: string) => Array.from(s, (c) => c.codePointAt(0) as number);
    const reference = (text: string, d: number): Float64Array => {
      const words =
        text
          .normalize("NFKC")
          .toLowerCase()
          .normalize("NFD")
          .replace(/[\u0300-\u036f]/g, "")
          .normalize("NFC")
          .match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
      const groups: Array<[number, number[]]> = [
        [1.0, words.map((w) => fnv(0x811c9dc5 | 0, cps(w)))],
        [
          0.25,
          words
            .slice(1)
            .map((w, i) => fnv(0x050c5d1f, [...cps(words[i] as string), 0x20, ...cps(w)])),
        ],
        [
          1.0,
          words.flatMap((w) => {
            const p = cps(`<${w}>`);
            const grams: number[] = [];
            for (let n = 3; n <= 5; n++) {
              for (let i = 0; i + n <= p.length; i++)
                grams.push(fnv(0x1b873593, p.slice(i, i + n)));
            }
            return grams;
          }),
        ],
      ];
      const out = new Float64Array(d);
      for (const [weight, hashes] of groups) {
        const tf = new Map<number, number>();
        for (const h of hashes) tf.set(h, (tf.get(h) ?? 0) + 1);
        const values = [...tf].map(([h, n]) => [h, 1 + Math.log(n)] as const);
        const groupNorm = Math.hypot(...values.map(([, v]) => v));
        for (const [h, v] of values) {
          const bucket = (h & 0x7fffffff) % d;
          out[bucket] = (out[bucket] as number) + ((h < 0 ? -1 : 1) * v * weight) / groupNorm;
        }
      }
      const total = Math.hypot(...out);
      return total === 0 ? out : out.map((v) => v / total);
    };
    const samples = [
      "Hello, world!",
      "How do I read a CSV file? CSV CSV csv",
      "Ångström: naïve café, ﬁle ＣＳＶ",
      "hello hello hello world world",
      "Привет мир 你好世界 हिंदी 𝔘𝔫𝔦 😀",
      "",
    ];
    for (const d of [8, 384, 1000]) {
      const e = createHashEmbedder(d);
      for (const text of samples) {
        const expected = reference(text, d);
        const actual = e.embedOne(text);
        for (let i = 0; i < d; i++) {
          expect(actual[i], `${text} [${i}]`).toBeCloseTo(expected[i] as number, 6);
        }
      }
    }
  });
});

describe("vectors", () => {
  it("are L2-normalized float32 vectors", () => {
    for (const text of ["a", "Hello, world!", "x ".repeat(1000), "日本語のテキスト", "Ελληνικά"]) {
      const v = vec(text);
      expect(v).toBeInstanceOf(Float32Array);
      expect(norm(v), text).toBeCloseTo(1, 6);
      expect(v.every(Number.isFinite)).toBe(true);
    }
  });

  it("are zero for a text with no words", () => {
    for (const text of ["", "   ", "!!! ???", "—", "😀🎉", "\n\t"]) {
      const v = vec(text);
      expect(norm(v), JSON.stringify(text)).toBe(0);
    }
    expect(cosine(vec(""), vec("hello"))).toBe(0);
  });

  it("place similar texts closer than unrelated ones", () => {
    const query = vec("How do I read a CSV file?");
    const similar = vec("reading CSV files");
    const unrelated = vec("configure the firewall whitelist for network access");
    expect(cosine(query, similar)).toBeGreaterThan(0.3);
    expect(cosine(query, similar)).toBeGreaterThan(cosine(query, unrelated) + 0.2);
    // character n-grams tolerate typos and inflections
    expect(cosine(vec("configuration"), vec("configuraton"))).toBeGreaterThan(0.3);
    expect(cosine(vec("configuration"), vec("firewall"))).toBeLessThan(0.1);
    expect(cosine(vec("stream parsing"), vec("streaming parser"))).toBeGreaterThan(
      cosine(vec("stream parsing"), vec("database index")),
    );
    // word order matters a little (bigrams), not much
    const ab = cosine(vec("sqlite source plugin"), vec("plugin source sqlite"));
    expect(ab).toBeGreaterThan(0.8);
    expect(ab).toBeLessThan(1 - 1e-6);
  });
});

describe("normalization", () => {
  const same = (a: string, b: string) => expect(vec(a), `${a} / ${b}`).toEqual(vec(b));

  it("ignores case, punctuation and spacing", () => {
    same("Read CSV Files!", "read csv files");
    same("  read,\tcsv...files  ", "read csv files");
    same("compile_source/4", "compile source 4");
  });

  it("applies NFKC: full-width forms and ligatures", () => {
    same("ＣＳＶ ｆｉｌｅ", "csv file");
    same("ﬁle", "file");
    same("x²", "x2");
  });

  it("strips Latin diacritics, composed or not", () => {
    same("Café", "cafe");
    same("CAFÉ", "cafe");
    same("cafe\u0301", "café");
    same("Ångström naïve", "angstrom naive");
    expect(normalizeForHashing("Dónde ESTÁ")).toBe("donde esta");
  });

  it("keeps marks that carry meaning in other scripts", () => {
    expect(hashWords("हिंदी भाषा")).toEqual(["हिंदी", "भाषा"]);
    expect(vec("हिंदी")).not.toEqual(vec("हद"));
  });

  it("handles other scripts and odd input", () => {
    expect(hashWords("Привет, мир! 你好世界 ελληνικά 123")).toEqual([
      "привет",
      "мир",
      "你好世界",
      "ελληνικα",
      "123",
    ]);
    expect(cosine(vec("привет мир"), vec("Привет, МИР"))).toBeCloseTo(1, 6);
    expect(cosine(vec("你好世界"), vec("你好"))).toBeGreaterThan(0);
    expect(norm(vec("\ud800 lone surrogate \udc00"))).toBeCloseTo(1, 6);
    expect(vec("emoji 😀 inside")).toEqual(vec("emoji inside"));
    expect(norm(vec("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𠀁"))).toBeCloseTo(1, 6);
  });
});

describe("the Embedder contract", () => {
  it("embed resolves one vector per text in order and reports progress", async () => {
    const progress: Array<[number, number]> = [];
    const texts = ["one", "two", "three"];
    const vectors = await embedder.embed(texts, {
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(vectors).toHaveLength(3);
    expect(vectors[1]).toEqual(vec("two"));
    expect(progress.at(-1)).toEqual([3, 3]);
    expect(await embedder.embed([])).toEqual([]);
  });

  it("rejects input that is not an array of strings", async () => {
    await expect(embedder.embed(["ok", 3 as unknown as string])).rejects.toThrow(
      "hash-384: expected a string to embed, got number",
    );
    await expect(embedder.embed("text" as unknown as string[])).rejects.toThrow(TypeError);
  });

  it("cannot be used after dispose", async () => {
    const e: Embedder = createHashEmbedder(16);
    await e.dispose();
    await expect(e.embed(["x"])).rejects.toThrow("embedder hash-16 has been disposed");
    await e.dispose();
  });

  it("embeds 10 000 short texts quickly", () => {
    const texts = Array.from({ length: 10_000 }, (_, i) => `how do I parse file number ${i}`);
    const t0 = performance.now();
    const vectors = embedder.embedSync(texts);
    expect(vectors).toHaveLength(10_000);
    // generous bound for slow CI machines; measured ~100 000 texts/s on one core
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe("resolveEmbedder", () => {
  it("returns a hash embedder for hash-<d>", async () => {
    const e = await resolveEmbedder("hash-384");
    expect(e).toBeInstanceOf(HashEmbedder);
    expect(e).toMatchObject({ name: "hash-384", dimensions: 384, backend: "hash" });
    expect((await resolveEmbedder("hash-64", { modelDir: "/nowhere" })).dimensions).toBe(64);
  });

  it("never falls back: a model that is not there is not available, with the command that fetches it", async () => {
    const emptyCache = mkdtempSync(join(tmpdir(), "ldakit-empty-cache-"));
    const error = await resolveEmbedder("all-MiniLM-L6-v2", { cacheDir: emptyCache }).catch(
      (e: unknown) => e,
    );
    rmSync(emptyCache, { recursive: true, force: true });
    expect(error).toBeInstanceOf(EmbedderNotAvailableError);
    expect(error).toMatchObject({ modelName: "all-MiniLM-L6-v2" });
    expect((error as Error).message).toMatch(/^model "all-MiniLM-L6-v2" is not available: /);
    expect((error as Error).message).toMatch(/ldakit models fetch all-MiniLM-L6-v2/);
    await expect(resolveEmbedder("hash-4")).rejects.toThrow(
      'model "hash-4" is not available: a hash embedder is named hash-<d> with an integer d from 8 to 65536 and no leading zeros, e.g. hash-384',
    );
    await expect(resolveEmbedder("HASH-384")).rejects.toThrow(EmbedderNotAvailableError);
  });
});
