/**
 * The model's tokenizer.json through @huggingface/tokenizers, with sentence-transformers'
 * truncation: at most `maxSeqLength` tokens, special tokens included, cut from the end of the
 * text's own tokens (as Python's `tokenizers` does with `LongestFirst` on one sequence).
 *
 * Padding is never applied here (tokenizer.json may ask for padding to a fixed length, as
 * all-MiniLM-L6-v2's does): a batch is padded to its longest member by the embedder, and the
 * attention mask keeps padding out of attention and pooling.
 */
import { readFile } from "node:fs/promises";
import { Tokenizer } from "@huggingface/tokenizers";
import { ModelFolderError } from "./folder.js";

export interface Encoded {
  readonly ids: Int32Array;
  readonly typeIds: Int32Array;
}

export class StTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxSeqLength: number,
    readonly doLowerCase: boolean,
    readonly padId: number,
  ) {}

  static async load(options: {
    tokenizerFile: string;
    tokenizerConfigFile?: string | undefined;
    maxSeqLength: number;
    doLowerCase?: boolean;
    padTokenId?: number;
  }): Promise<StTokenizer> {
    const { tokenizerFile, tokenizerConfigFile } = options;
    let json: Record<string, unknown>;
    let config: Record<string, unknown> = {};
    try {
      json = JSON.parse(await readFile(tokenizerFile, "utf8"));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ModelFolderError(
        code === "ENOENT"
          ? `${tokenizerFile} is missing (the tokenizer)`
          : `${tokenizerFile}: ${(e as Error).message}`,
        tokenizerFile,
      );
    }
    if (tokenizerConfigFile !== undefined) {
      try {
        config = JSON.parse(await readFile(tokenizerConfigFile, "utf8"));
      } catch (e) {
        throw new ModelFolderError(
          `${tokenizerConfigFile}: ${(e as Error).message}`,
          tokenizerConfigFile,
        );
      }
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new ModelFolderError(
        `${tokenizerFile}: cannot build the tokenizer: ${(e as Error).message}`,
        tokenizerFile,
      );
    }
    const padding = json.padding as { pad_id?: unknown } | null | undefined;
    const padId = typeof padding?.pad_id === "number" ? padding.pad_id : (options.padTokenId ?? 0);
    return new StTokenizer(tokenizer, options.maxSeqLength, options.doLowerCase ?? false, padId);
  }

  /** Token ids and token type ids of one text, truncated to `maxSeqLength`. */
  encode(text: string): Encoded {
    const input = this.doLowerCase ? text.toLowerCase() : text;
    const full = this.tokenizer.encode(input, { return_token_type_ids: true });
    const fullTypes = full.token_type_ids ?? new Array<number>(full.ids.length).fill(0);
    if (full.ids.length <= this.maxSeqLength) {
      return { ids: Int32Array.from(full.ids), typeIds: Int32Array.from(fullTypes) };
    }
    // Too long: find the text's own tokens inside the special-token template, keep the template,
    // and cut the text's tokens to fit.
    const bare = this.tokenizer.encode(input, { add_special_tokens: false }).ids;
    const nSpecial = full.ids.length - bare.length;
    let prefix = -1;
    for (let p = 0; p <= nSpecial && prefix < 0; p++) {
      let same = true;
      for (let i = 0; i < bare.length && same; i++) same = full.ids[p + i] === bare[i];
      if (same) prefix = p;
    }
    if (prefix < 0 || nSpecial >= this.maxSeqLength) {
      // Unknown template shape: plain cut, as a last resort.
      return {
        ids: Int32Array.from(full.ids.slice(0, this.maxSeqLength)),
        typeIds: Int32Array.from(fullTypes.slice(0, this.maxSeqLength)),
      };
    }
    const keep = this.maxSeqLength - nSpecial;
    const suffixStart = prefix + bare.length;
    const ids = new Int32Array(this.maxSeqLength);
    const typeIds = new Int32Array(this.maxSeqLength);
    let o = 0;
    const take = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        ids[o] = full.ids[i] as number;
        typeIds[o] = fullTypes[i] ?? 0;
        o++;
      }
    };
    take(0, prefix + keep);
    take(suffixStart, full.ids.length);
    return { ids, typeIds };
  }
}
