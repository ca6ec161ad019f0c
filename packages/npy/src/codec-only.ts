/**
 * The browser-safe part of `@ldakit/npy`: encoding and decoding bytes, with no Node.js APIs.
 * Import it as `@ldakit/npy/codec`.
 */
export { decodeNpy, encodeNpy, type NpyArrayInput } from "./codec.js";
export { NpyError, type NpyErrorCode } from "./errors.js";
export type { DecodeOptions } from "./header.js";
export { toCOrder } from "./order.js";
export type { NpyArray, NpyTypedArray } from "./types.js";
