import { TEMPERATURE_RANGE } from "@ldakit/train";
import { InvalidArgumentError, Option } from "commander";

/**
 * The numeric options of every command, each with its range (the CLI README's table lists them).
 * They are commander `Option`s with an argument parser: a value out of range is a usage error
 * (exit code 2) naming the option, the value and the range, before any store is opened.
 */

/** The most answers `search --top-k` prints: more is no longer a ranking a person reads. */
export const MAX_TOP_K = 10_000;
/** The most folds `train --folds` takes: beyond 20 each fold holds out too few questions to score. */
export const MAX_FOLDS = 20;
/** The most texts `embed --batch-size` embeds per call. */
export const MAX_EMBED_BATCH = 65_536;

/** A whole number written in decimal digits, from `min` to `max`. */
export function integerIn(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\+?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A finite number from `min` to `max`, or `auto` when `auto` is allowed. */
function numberIn(
  flag: string,
  min: number,
  max: number,
  range: string,
  allowAuto: boolean,
): (value: string) => number | "auto" {
  return (value) => {
    if (allowAuto && value === "auto") return "auto";
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${flag} must be ${allowAuto ? "auto or " : ""}a number from ${range}.`,
      );
    }
    return n;
  };
}

/** `--mh-id <id>`: a projection id, a positive integer. */
export function mhIdOption(description: string): Option {
  return new Option("--mh-id <id>", `${description} (a positive integer)`).argParser(
    integerIn("--mh-id", 1, Number.MAX_SAFE_INTEGER),
  );
}

/** `--top-k <k>`: 1 to {@link MAX_TOP_K}; at most the number of answers are shown. */
export function topKOption(): Option {
  return new Option("--top-k <k>", `how many answers to show (1 to ${MAX_TOP_K})`)
    .argParser(integerIn("--top-k", 1, MAX_TOP_K))
    .default(5);
}

/** `--folds <k>`: 2 to {@link MAX_FOLDS} (training also refuses more folds than questions). */
export function foldsOption(): Option {
  return new Option(
    "--folds <k>",
    `k of the k-fold held-out evaluation (2 to ${MAX_FOLDS}, at most the number of questions)`,
  )
    .argParser(integerIn("--folds", 2, MAX_FOLDS))
    .default(5);
}

/** `--temperature <t>`: `auto`, or τ with τ and 1/τ normal float32 numbers (train's range). */
export function temperatureOption(): Option {
  const range = `${TEMPERATURE_RANGE.min} to ${TEMPERATURE_RANGE.max} (2^-126 to 2^126: τ and 1/τ must be normal float32 numbers)`;
  return new Option(
    "--temperature <t>",
    "routing temperature (2^-126 to 2^126), or auto to choose it on held-out questions",
  )
    .argParser(numberIn("--temperature", TEMPERATURE_RANGE.min, TEMPERATURE_RANGE.max, range, true))
    .default("auto");
}

/** `--blend <β>`: `auto`, or β from 0 to 1. */
export function blendOption(): Option {
  return new Option(
    "--blend <β>",
    "blend of the projected vector with the query (0 to 1), or auto to choose on held-out questions",
  )
    .argParser(numberIn("--blend", 0, 1, "0 to 1", true))
    .default("auto");
}

/** `--batch-size <n>`: texts per embedding call, 1 to {@link MAX_EMBED_BATCH}. */
export function embedBatchSizeOption(): Option {
  return new Option("--batch-size <n>", `texts per batch (1 to ${MAX_EMBED_BATCH})`).argParser(
    integerIn("--batch-size", 1, MAX_EMBED_BATCH),
  );
}
