/**
 * Broken model folders fail with an error that names the file at fault.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  loadSentenceTransformerFromDir,
  ModelFolderError,
  readModelFolder,
} from "../src/st/index.js";
import { copyModel, makeTinyModel, sharedModelDir, writeSafetensors } from "./st-helpers.js";

let realDir: string;
let tmp: string;
let n = 0;

beforeAll(async () => {
  realDir = await sharedModelDir();
  tmp = mkdtempSync(path.join(os.tmpdir(), "ldakit-broken-"));
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the real folder. */
function realCopy(): string {
  const dir = path.join(tmp, `real-${n++}`);
  copyModel(realDir, dir);
  return dir;
}

/** A tiny model (fast to load), for breaking weights. */
function tiny(): string {
  const dir = path.join(tmp, `tiny-${n++}`);
  makeTinyModel(dir, realDir);
  return dir;
}

function editJson(file: string, f: (v: Record<string, unknown>) => void): void {
  const v = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  f(v);
  writeFileSync(file, JSON.stringify(v));
}

async function loadError(dir: string): Promise<Error> {
  try {
    const e = await loadSentenceTransformerFromDir(dir, { threads: 0 });
    await e.dispose();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`loading ${dir} did not fail`);
}

describe("a file missing", () => {
  for (const file of [
    "modules.json",
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "1_Pooling/config.json",
  ]) {
    it(`${file}`, async () => {
      const dir = realCopy();
      unlinkSync(path.join(dir, file));
      const err = await loadError(dir);
      expect(err).toBeInstanceOf(ModelFolderError);
      expect(err.message).toContain(path.join(dir, file));
      expect(err.message).toMatch(/missing/);
      expect((err as ModelFolderError).file).toBe(path.join(dir, file));
    }, 120_000);
  }

  it("sentence_bert_config.json is optional (the position table and model_max_length bound the length)", async () => {
    const dir = realCopy();
    unlinkSync(path.join(dir, "sentence_bert_config.json"));
    const spec = await readModelFolder(dir);
    expect(spec.maxSeqLength).toBe(512);
  });
});

describe("a weight of the wrong shape", () => {
  it("names the file, the tensor, both shapes and config.json", async () => {
    const dir = realCopy();
    // Rewrite the real file with one tensor cut short: parse the header, change one shape.
    const file = path.join(dir, "model.safetensors");
    const bytes = readFileSync(file);
    const len = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + len).toString("utf8")) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: [number, number] }
    >;
    const name = "encoder.layer.3.attention.self.key.weight";
    const entry = header[name];
    if (!entry) throw new Error("test setup: tensor not found");
    entry.shape = [384, 192];
    entry.data_offsets = [entry.data_offsets[0], entry.data_offsets[0] + 384 * 192 * 4];
    let json = JSON.stringify(header);
    while (json.length < len) json += " ";
    const out = Buffer.concat([Buffer.alloc(8), Buffer.from(json), bytes.subarray(8 + len)]);
    out.writeBigUInt64LE(BigInt(json.length), 0);
    writeFileSync(file, out);
    const err = await loadError(dir);
    expect(err).toBeInstanceOf(ModelFolderError);
    expect(err.message).toContain(file);
    expect(err.message).toContain(name);
    expect(err.message).toContain("[384, 192]");
    expect(err.message).toContain("[384, 384]");
    expect(err.message).toContain("config.json");
  }, 120_000);

  it("a config.json that disagrees with the weights", async () => {
    const dir = tiny();
    editJson(path.join(dir, "config.json"), (c) => {
      c.intermediate_size = 48;
    });
    const err = await loadError(dir);
    expect(err.message).toContain(path.join(dir, "model.safetensors"));
    expect(err.message).toMatch(
      /encoder\.layer\.0\.intermediate\.dense\.weight has shape \[64, 32\], expected \[48, 32\]/,
    );
  });

  it("a weight that is missing", async () => {
    const dir = tiny();
    writeSafetensors(path.join(dir, "model.safetensors"), {
      "embeddings.word_embeddings.weight": {
        dtype: "F32",
        shape: [30522, 32],
        data: new Float32Array(30522 * 32),
      },
    });
    const err = await loadError(dir);
    expect(err.message).toContain(path.join(dir, "model.safetensors"));
    expect(err.message).toMatch(/embeddings\.position_embeddings\.weight is missing/);
  });

  it("more layers in the file than config.json says", async () => {
    const dir = tiny();
    editJson(path.join(dir, "config.json"), (c) => {
      c.num_hidden_layers = 1;
    });
    const err = await loadError(dir);
    expect(err.message).toMatch(/more layers than num_hidden_layers 1/);
  });

  it("a corrupt safetensors header", async () => {
    const dir = tiny();
    const file = path.join(dir, "model.safetensors");
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(BigInt(bytes.length * 2), 0);
    writeFileSync(file, bytes);
    const err = await loadError(dir);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/header length/);
  });
});

describe("an architecture that is not BERT", () => {
  it("model_type roberta", async () => {
    const dir = realCopy();
    editJson(path.join(dir, "config.json"), (c) => {
      c.model_type = "roberta";
      c.architectures = ["RobertaModel"];
    });
    const err = await loadError(dir);
    expect(err).toBeInstanceOf(ModelFolderError);
    expect(err.message).toContain(path.join(dir, "config.json"));
    expect(err.message).toMatch(/model_type "roberta" \(architectures RobertaModel\) is not BERT/);
  });

  it("architectures that are not Bert*", async () => {
    const dir = realCopy();
    editJson(path.join(dir, "config.json"), (c) => {
      c.architectures = ["MPNetForMaskedLM"];
    });
    const err = await loadError(dir);
    expect(err.message).toContain(path.join(dir, "config.json"));
    expect(err.message).toMatch(/MPNetForMaskedLM/);
  });

  it("a module sentence-transformers has but ldakit does not run", async () => {
    const dir = realCopy();
    const file = path.join(dir, "modules.json");
    const modules = JSON.parse(readFileSync(file, "utf8")) as unknown[];
    modules.splice(2, 0, {
      idx: 2,
      name: "2",
      path: "2_Dense",
      type: "sentence_transformers.models.Dense",
    });
    writeFileSync(file, JSON.stringify(modules));
    const err = await loadError(dir);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/sentence_transformers\.models\.Dense is not supported/);
  });

  it("unsupported settings: relative position embeddings, an unknown activation", async () => {
    const a = realCopy();
    editJson(path.join(a, "config.json"), (c) => {
      c.position_embedding_type = "relative_key";
    });
    expect((await loadError(a)).message).toMatch(
      /config\.json: position_embedding_type "relative_key"/,
    );
    const b = realCopy();
    editJson(path.join(b, "config.json"), (c) => {
      c.hidden_act = "swish";
    });
    expect((await loadError(b)).message).toMatch(/config\.json: hidden_act "swish"/);
  });

  it("invalid JSON names the file", async () => {
    const dir = realCopy();
    writeFileSync(path.join(dir, "1_Pooling", "config.json"), "{ not json");
    const err = await loadError(dir);
    expect(err.message).toContain(path.join(dir, "1_Pooling", "config.json"));
    expect(err.message).toMatch(/not valid JSON/);
  });
});
