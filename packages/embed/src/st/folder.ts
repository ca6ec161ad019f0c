/**
 * Reading a sentence-transformers model folder: modules.json, the Transformer module's
 * config.json and sentence_bert_config.json, the Pooling module's config.json, an optional
 * Normalize module. Every error names the file it is about.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

/** A folder that is not a usable sentence-transformers BERT model; the message names the file. */
export class ModelFolderError extends Error {
  override readonly name = "ModelFolderError";
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

export type HiddenAct = "gelu" | "gelu_tanh" | "relu";

/** The sizes of a BERT encoder, from config.json. */
export interface BertConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly intermediateSize: number;
  readonly maxPositions: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly hiddenAct: HiddenAct;
  readonly padTokenId: number;
}

/** Pooling modes, in the order sentence-transformers concatenates them. */
export type PoolingMode = "cls" | "max" | "mean" | "mean_sqrt_len";

export interface StModelSpec {
  /** The model folder (absolute). */
  readonly dir: string;
  /** The Transformer module's folder (usually `dir` itself). */
  readonly transformerDir: string;
  readonly configFile: string;
  readonly weightsFile: string;
  readonly tokenizerFile: string;
  /** tokenizer_config.json, or undefined when the folder has none. */
  readonly tokenizerConfigFile: string | undefined;
  readonly config: BertConfig;
  /** Inputs are truncated to this many tokens, special tokens included. */
  readonly maxSeqLength: number;
  /** Lower-case the text before tokenizing (sentence_bert_config.json `do_lower_case`). */
  readonly doLowerCase: boolean;
  readonly pooling: readonly PoolingMode[];
  readonly normalize: boolean;
  /** The length of the output vectors. */
  readonly dimensions: number;
}

interface ModuleEntry {
  idx?: number;
  name?: string;
  path?: string;
  type?: string;
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelFolderError(
      code === "ENOENT"
        ? `${file} is missing (${what})`
        : `${file}: cannot read: ${(e as Error).message}`,
      file,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(`${file} is not valid JSON: ${(e as Error).message}`, file);
  }
}

function moduleKind(type: string | undefined): string {
  const t = type ?? "";
  return t.slice(t.lastIndexOf(".") + 1);
}

/** Read and check a model folder (no weights are loaded here). */
export async function readModelFolder(dirIn: string): Promise<StModelSpec> {
  const dir = path.resolve(dirIn);
  const modulesFile = path.join(dir, "modules.json");
  const modules = (await readJson(
    modulesFile,
    "the list of sentence-transformers modules",
  )) as ModuleEntry[];
  if (!Array.isArray(modules) || modules.length === 0) {
    throw new ModelFolderError(
      `${modulesFile}: expected a non-empty JSON array of modules`,
      modulesFile,
    );
  }
  const kinds = modules.map((m) => moduleKind(m.type));
  const first = modules[0] as ModuleEntry;
  if (kinds[0] !== "Transformer") {
    throw new ModelFolderError(
      `${modulesFile}: the first module is ${first.type ?? "(no type)"}, expected sentence_transformers.models.Transformer`,
      modulesFile,
    );
  }
  let pooling: PoolingMode[] | undefined;
  let normalize = false;
  const transformerDir = path.join(dir, first.path ?? "");
  for (const [i, m] of modules.entries()) {
    const kind = kinds[i];
    if (i === 0) continue;
    if (kind === "Pooling" && pooling === undefined && !normalize) {
      pooling = await readPooling(path.join(dir, m.path ?? "", "config.json"));
    } else if (kind === "Normalize" && !normalize) {
      normalize = true;
    } else {
      throw new ModelFolderError(
        `${modulesFile}: module ${JSON.stringify(m.name ?? String(i))} of type ${m.type ?? "(none)"} is not supported` +
          " here (ldakit runs Transformer → Pooling → optional Normalize)",
        modulesFile,
      );
    }
  }
  if (pooling === undefined) {
    throw new ModelFolderError(
      `${modulesFile} lists no sentence_transformers.models.Pooling module`,
      modulesFile,
    );
  }

  const configFile = path.join(transformerDir, "config.json");
  const config = parseBertConfig(
    await readJson(configFile, "the transformer's configuration"),
    configFile,
  );

  const weightsFile = path.join(transformerDir, "model.safetensors");
  if (!(await exists(weightsFile))) {
    const hasBin = await exists(path.join(transformerDir, "pytorch_model.bin"));
    throw new ModelFolderError(
      `${weightsFile} is missing (the weights)${hasBin ? "; pytorch_model.bin is not read: convert it to safetensors" : ""}`,
      weightsFile,
    );
  }
  const tokenizerFile = path.join(transformerDir, "tokenizer.json");
  if (!(await exists(tokenizerFile))) {
    throw new ModelFolderError(`${tokenizerFile} is missing (the tokenizer)`, tokenizerFile);
  }
  const tokCfgPath = path.join(transformerDir, "tokenizer_config.json");
  const tokenizerConfigFile = (await exists(tokCfgPath)) ? tokCfgPath : undefined;

  // max_seq_length: sentence_bert_config.json; without it sentence-transformers takes the
  // smaller of the tokenizer's model_max_length and the position table.
  const stCfgFile = path.join(transformerDir, "sentence_bert_config.json");
  let maxSeqLength = config.maxPositions;
  let doLowerCase = false;
  if (await exists(stCfgFile)) {
    const st = (await readJson(stCfgFile, "max_seq_length")) as {
      max_seq_length?: unknown;
      do_lower_case?: unknown;
    };
    if (st.max_seq_length !== undefined && st.max_seq_length !== null) {
      if (!Number.isInteger(st.max_seq_length) || (st.max_seq_length as number) < 2) {
        throw new ModelFolderError(
          `${stCfgFile}: max_seq_length must be an integer ≥ 2`,
          stCfgFile,
        );
      }
      maxSeqLength = st.max_seq_length as number;
    }
    doLowerCase = st.do_lower_case === true;
  } else if (tokenizerConfigFile !== undefined) {
    const tc = (await readJson(tokenizerConfigFile, "tokenizer settings")) as {
      model_max_length?: unknown;
    };
    if (typeof tc.model_max_length === "number" && tc.model_max_length > 0) {
      maxSeqLength = Math.min(maxSeqLength, tc.model_max_length);
    }
  }
  if (maxSeqLength > config.maxPositions) {
    throw new ModelFolderError(
      `${stCfgFile}: max_seq_length ${maxSeqLength} exceeds max_position_embeddings ${config.maxPositions} of ${configFile}`,
      stCfgFile,
    );
  }

  return {
    dir,
    transformerDir,
    configFile,
    weightsFile,
    tokenizerFile,
    tokenizerConfigFile,
    config,
    maxSeqLength,
    doLowerCase,
    pooling,
    normalize,
    dimensions: config.hiddenSize * pooling.length,
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function readPooling(file: string): Promise<PoolingMode[]> {
  const cfg = (await readJson(file, "the pooling configuration")) as Record<string, unknown>;
  const modes: PoolingMode[] = [];
  // sentence-transformers concatenates in this order.
  if (cfg.pooling_mode_cls_token === true) modes.push("cls");
  if (cfg.pooling_mode_max_tokens === true) modes.push("max");
  if (cfg.pooling_mode_mean_tokens === true) modes.push("mean");
  if (cfg.pooling_mode_mean_sqrt_len_tokens === true) modes.push("mean_sqrt_len");
  for (const unsupported of ["pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"]) {
    if (cfg[unsupported] === true) {
      throw new ModelFolderError(
        `${file}: ${unsupported} is not supported (use mean, cls, max or mean_sqrt_len)`,
        file,
      );
    }
  }
  if (modes.length === 0) throw new ModelFolderError(`${file}: no pooling mode is enabled`, file);
  return modes;
}

function parseBertConfig(raw: unknown, file: string): BertConfig {
  const c = (raw ?? {}) as Record<string, unknown>;
  const modelType = c.model_type;
  const archs = Array.isArray(c.architectures) ? (c.architectures as unknown[]).map(String) : [];
  const bertArch = archs.length === 0 || archs.every((a) => a.startsWith("Bert"));
  if (modelType !== "bert" || !bertArch) {
    throw new ModelFolderError(
      `${file}: model_type ${JSON.stringify(modelType ?? null)}` +
        `${archs.length ? ` (architectures ${archs.join(", ")})` : ""} is not BERT;` +
        ' ldakit\'s TensorFlow.js encoder runs BERT models (model_type "bert") only',
      file,
    );
  }
  const int = (key: string, dflt?: number): number => {
    const v = c[key] ?? dflt;
    if (!Number.isInteger(v) || (v as number) <= 0) {
      throw new ModelFolderError(
        `${file}: ${key} must be a positive integer, got ${JSON.stringify(c[key])}`,
        file,
      );
    }
    return v as number;
  };
  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  if (hiddenSize % numHeads !== 0) {
    throw new ModelFolderError(
      `${file}: hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`,
      file,
    );
  }
  const pet = c.position_embedding_type ?? "absolute";
  if (pet !== "absolute") {
    throw new ModelFolderError(
      `${file}: position_embedding_type ${JSON.stringify(pet)} is not supported (only "absolute")`,
      file,
    );
  }
  const act = c.hidden_act ?? "gelu";
  let hiddenAct: HiddenAct;
  if (act === "gelu") hiddenAct = "gelu";
  else if (act === "gelu_new" || act === "gelu_pytorch_tanh") hiddenAct = "gelu_tanh";
  else if (act === "relu") hiddenAct = "relu";
  else
    throw new ModelFolderError(
      `${file}: hidden_act ${JSON.stringify(act)} is not supported (gelu, gelu_new, relu)`,
      file,
    );
  const eps = c.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps > 0)) {
    throw new ModelFolderError(`${file}: layer_norm_eps must be a positive number`, file);
  }
  const pad = c.pad_token_id ?? 0;
  return {
    vocabSize: int("vocab_size"),
    hiddenSize,
    numLayers: int("num_hidden_layers"),
    numHeads,
    intermediateSize: int("intermediate_size"),
    maxPositions: int("max_position_embeddings", 512),
    typeVocabSize: int("type_vocab_size", 2),
    layerNormEps: eps,
    hiddenAct,
    padTokenId: Number.isInteger(pad) ? (pad as number) : 0,
  };
}
