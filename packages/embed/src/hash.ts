/**
 * `hash-<d>`: the built-in embedder. Deterministic, offline, no weights: feature hashing of
 * normalized word and character n-grams into `d` signed buckets, L2-normalized.
 * It is lexical, not semantic — it finds texts that share words and word pieces.
 *
 * The algorithm (so that other runtimes can reproduce it):
 * 1. Normalize: Unicode NFKC, lower case (`toLowerCase`, locale-independent), then remove
 *    combining diacritical marks U+0300–U+036F after canonical decomposition (`café` → `cafe`,
 *    `Ångström` → `angstrom`) and recompose (NFC). Marks of other blocks (e.g. Devanagari vowel
 *    signs) are kept, since they carry meaning there.
 * 2. Words: maximal runs of letters, digits and marks (`[\p{L}\p{N}\p{M}]+`); everything else
 *    separates words (`compile_source/4` → `compile`, `source`, `4`).
 * 3. Features, three groups:
 *    - W: each word;
 *    - B: each pair of adjacent words;
 *    - C: the character 3-, 4- and 5-grams of each word padded as `<word>`, within the word.
 * 4. Each feature is hashed (below) to 32 bits `h`; bucket `(h & 0x7fffffff) % d`, sign `-`
 *    if bit 31 of `h` is set. A feature's value is `1 + ln(tf)` (sublinear term frequency).
 * 5. Each group is L2-normalized over its features (before hashing) and weighted
 *    (W 1.0, B 0.25, C 1.0); the groups are summed into the buckets and the vector is
 *    L2-normalized. A text without any word gives the zero vector (cosine 0 to everything).
 *
 * Hash: 32-bit FNV-1a over the Unicode code points of the feature (each code point XORed
 * in whole, then multiplied by 16777619), starting from an offset basis per group (W
 * 0x811c9dc5, B 0x050c5d1f, C 0x1b873593); a bigram feeds a space (0x20) between its words;
 * finally MurmurHash3's fmix32 spreads the bits.
 */
import type { Embedder, EmbedOptions } from "./embedder.js";

export const DEFAULT_HASH_DIMENSIONS = 384;
export const MIN_HASH_DIMENSIONS = 8;
export const MAX_HASH_DIMENSIONS = 65536;
export const HASH_BACKEND = "hash";

const FNV_PRIME = 16777619;
const SEED_WORD = 0x811c9dc5 | 0;
const SEED_BIGRAM = 0x050c5d1f | 0;
const SEED_CHAR = 0x1b873593 | 0;
const WEIGHT_WORD = 1.0;
const WEIGHT_BIGRAM = 0.25;
const WEIGHT_CHAR = 1.0;
const MIN_GRAM = 3;
const MAX_GRAM = 5;
const PAD_START = 0x3c; // <
const PAD_END = 0x3e; // >

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

const ASCII_WORD = /[a-z0-9]+/g;
const UNICODE_WORD = /[\p{L}\p{N}\p{M}]+/gu;
const COMBINING_DIACRITICS = /[\u0300-\u036f]/g;

const ASCII_ONLY = /^\p{ASCII}*$/u;

function isAscii(text: string): boolean {
  return ASCII_ONLY.test(text);
}

/** Step 1 of the algorithm: the text as the features see it. */
export function normalizeForHashing(text: string): string {
  if (isAscii(text)) return text.toLowerCase();
  return text
    .normalize("NFKC")
    .toLowerCase()
    .normalize("NFD")
    .replace(COMBINING_DIACRITICS, "")
    .normalize("NFC");
}

/** Steps 1–2: the words of a text. */
export function hashWords(text: string): string[] {
  const normalized = normalizeForHashing(text);
  return normalized.match(isAscii(normalized) ? ASCII_WORD : UNICODE_WORD) ?? [];
}

/** Writes the code points of a word into `out` from `offset`; returns how many. */
function codePoints(word: string, out: Int32Array, offset: number): number {
  let n = offset;
  for (let i = 0; i < word.length; i++) {
    let c = word.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < word.length) {
      const d = word.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    out[n++] = c;
  }
  return n - offset;
}

/** `1 + ln(tf)` for small tf */
const SUBLINEAR = Float64Array.from({ length: 64 }, (_, tf) => (tf === 0 ? 0 : 1 + Math.log(tf)));

function sublinear(tf: number): number {
  return tf < 64 ? (SUBLINEAR[tf] as number) : 1 + Math.log(tf);
}

/**
 * The features of one group of one text with their counts: an open-addressing hash table keyed
 * by the (already well-mixed) feature hash, reused between texts. Entries of older texts are
 * told apart by a generation stamp, so starting a text costs nothing.
 */
class FeatureCounts {
  #keys = new Int32Array(1024);
  #counts = new Int32Array(1024);
  #stamps = new Int32Array(1024);
  /** slots in insertion order */
  #slots = new Int32Array(512);
  #size = 0;
  #stamp = 1;

  reset(): void {
    this.#size = 0;
    if (++this.#stamp === 0x7fffffff) {
      this.#stamps.fill(0);
      this.#stamp = 1;
    }
  }

  add(h: number): void {
    if (this.#size * 2 >= this.#slots.length) this.#grow();
    const keys = this.#keys;
    const stamps = this.#stamps;
    const mask = keys.length - 1;
    let slot = h & mask;
    for (;;) {
      if (stamps[slot] !== this.#stamp) {
        stamps[slot] = this.#stamp;
        keys[slot] = h;
        this.#counts[slot] = 1;
        this.#slots[this.#size++] = slot;
        return;
      }
      if (keys[slot] === h) {
        this.#counts[slot] = (this.#counts[slot] as number) + 1;
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** Adds the group, L2-normalized over its features and times `weight`, into the buckets. */
  addTo(buckets: Float64Array, dimensions: number, weight: number): void {
    const n = this.#size;
    if (n === 0) return;
    const slots = this.#slots;
    const counts = this.#counts;
    const keys = this.#keys;
    let sumSquares = 0;
    for (let i = 0; i < n; i++) {
      const v = sublinear(counts[slots[i] as number] as number);
      sumSquares += v * v;
    }
    const scale = weight / Math.sqrt(sumSquares);
    for (let i = 0; i < n; i++) {
      const slot = slots[i] as number;
      const h = keys[slot] as number;
      const v = sublinear(counts[slot] as number) * scale;
      const bucket = (h & 0x7fffffff) % dimensions;
      buckets[bucket] = (buckets[bucket] as number) + (h < 0 ? -v : v);
    }
  }

  /** Doubles the table, keeping this text's entries. */
  #grow(): void {
    const oldKeys = this.#keys;
    const oldCounts = this.#counts;
    const oldSlots = this.#slots.subarray(0, this.#size);
    const capacity = oldKeys.length * 2;
    this.#keys = new Int32Array(capacity);
    this.#counts = new Int32Array(capacity);
    this.#stamps = new Int32Array(capacity);
    this.#stamp = 1;
    const slots = new Int32Array(capacity / 2);
    const mask = capacity - 1;
    oldSlots.forEach((oldSlot, i) => {
      const h = oldKeys[oldSlot] as number;
      let slot = h & mask;
      while (this.#stamps[slot] === 1) slot = (slot + 1) & mask;
      this.#stamps[slot] = 1;
      this.#keys[slot] = h;
      this.#counts[slot] = oldCounts[oldSlot] as number;
      slots[i] = slot;
    });
    this.#slots = slots;
  }
}

/** The `hash-<d>` embedder. Synchronous underneath; `embed` is async for the interface. */
export class HashEmbedder implements Embedder {
  readonly name: string;
  readonly backend = HASH_BACKEND;
  readonly dimensions: number;
  #disposed = false;
  // scratch space, reused between texts
  readonly #buckets: Float64Array;
  readonly #words = new FeatureCounts();
  readonly #bigrams = new FeatureCounts();
  readonly #chars = new FeatureCounts();
  #cps = new Int32Array(256);
  #wordHashes = new Int32Array(256);

  constructor(dimensions: number = DEFAULT_HASH_DIMENSIONS) {
    if (
      !Number.isInteger(dimensions) ||
      dimensions < MIN_HASH_DIMENSIONS ||
      dimensions > MAX_HASH_DIMENSIONS
    ) {
      throw new RangeError(
        `hash embedder dimensions must be an integer from ${MIN_HASH_DIMENSIONS} to ${MAX_HASH_DIMENSIONS}, got ${String(dimensions)}`,
      );
    }
    this.dimensions = dimensions;
    this.name = `hash-${dimensions}`;
    this.#buckets = new Float64Array(dimensions);
  }

  /** The vector of one text. */
  embedOne(text: string): Float32Array {
    this.#checkUsable();
    if (typeof text !== "string") {
      throw new TypeError(`${this.name}: expected a string to embed, got ${typeof text}`);
    }
    const words = hashWords(text);
    const wordFeatures = this.#words;
    const bigramFeatures = this.#bigrams;
    const charFeatures = this.#chars;
    wordFeatures.reset();
    bigramFeatures.reset();
    charFeatures.reset();
    if (this.#wordHashes.length < words.length) this.#wordHashes = new Int32Array(words.length * 2);
    const wordStates = this.#wordHashes; // FNV state of each word under the bigram seed

    for (let w = 0; w < words.length; w++) {
      const word = words[w] as string;
      if (this.#cps.length < word.length + 2) this.#cps = new Int32Array(word.length * 2 + 2);
      const cps = this.#cps;
      // padded code points: < word >
      cps[0] = PAD_START;
      const n = codePoints(word, cps, 1) + 2;
      cps[n - 1] = PAD_END;

      let hw = SEED_WORD;
      let hb = SEED_BIGRAM;
      for (let i = 1; i < n - 1; i++) {
        const c = cps[i] as number;
        hw = Math.imul(hw ^ c, FNV_PRIME);
        hb = Math.imul(hb ^ c, FNV_PRIME);
      }
      wordFeatures.add(fmix32(hw));
      wordStates[w] = hb;

      if (w > 0) {
        // continue the previous word's state with a space and this word
        let h = Math.imul((wordStates[w - 1] as number) ^ 0x20, FNV_PRIME);
        for (let i = 1; i < n - 1; i++) h = Math.imul(h ^ (cps[i] as number), FNV_PRIME);
        bigramFeatures.add(fmix32(h));
      }

      for (let start = 0; start + MIN_GRAM <= n; start++) {
        let h = SEED_CHAR;
        const end = Math.min(n, start + MAX_GRAM);
        for (let i = start; i < end; i++) {
          h = Math.imul(h ^ (cps[i] as number), FNV_PRIME);
          if (i - start + 1 >= MIN_GRAM) charFeatures.add(fmix32(h));
        }
      }
    }

    const d = this.dimensions;
    const buckets = this.#buckets;
    buckets.fill(0);
    wordFeatures.addTo(buckets, d, WEIGHT_WORD);
    bigramFeatures.addTo(buckets, d, WEIGHT_BIGRAM);
    charFeatures.addTo(buckets, d, WEIGHT_CHAR);

    let sumSquares = 0;
    for (let i = 0; i < d; i++) {
      const v = buckets[i] as number;
      sumSquares += v * v;
    }
    const out = new Float32Array(d);
    if (sumSquares > 0) {
      const inv = 1 / Math.sqrt(sumSquares);
      for (let i = 0; i < d; i++) out[i] = (buckets[i] as number) * inv;
    }
    return out;
  }

  /** The vectors of many texts, synchronously. */
  embedSync(texts: readonly string[]): Float32Array[] {
    this.#checkUsable();
    if (!Array.isArray(texts)) throw new TypeError(`${this.name}: expected an array of texts`);
    return texts.map((text) => this.embedOne(text));
  }

  async embed(texts: string[], options?: EmbedOptions): Promise<Float32Array[]> {
    const vectors = this.embedSync(texts);
    options?.onProgress?.(vectors.length, vectors.length);
    return vectors;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
  }

  #checkUsable(): void {
    if (this.#disposed) throw new Error(`embedder ${this.name} has been disposed`);
  }
}

/** A `hash-<d>` embedder (default `hash-384`). */
export function createHashEmbedder(dimensions: number = DEFAULT_HASH_DIMENSIONS): HashEmbedder {
  return new HashEmbedder(dimensions);
}

/**
 * The dimensions of a hash embedder's name: `hash-384` → 384. `null` for anything else,
 * including non-canonical names (`hash-0384`, `Hash-384`) and d outside 8…65536.
 */
export function parseHashModelName(name: string): number | null {
  const match = /^hash-([1-9][0-9]{0,5})$/.exec(name);
  if (!match) return null;
  const d = Number(match[1]);
  return d >= MIN_HASH_DIMENSIONS && d <= MAX_HASH_DIMENSIONS ? d : null;
}
