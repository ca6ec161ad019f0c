import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository root (this file is packages/format/test/helpers.ts). */
export const REPO = fileURLToPath(new URL("../../../", import.meta.url));

export function readRepoFile(path: string): string {
  return readFileSync(`${REPO}${path}`, "utf8");
}

/** A small deterministic generator (mulberry32), so failures repeat. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
