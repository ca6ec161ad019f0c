/**
 * zod schemas of the small inputs besides raw Q-A data: model names and CLI option values. The
 * file convention itself (names, paths, `mh_<id>.json`) is `@ldakit/format`.
 */
import { modelNameProblem } from "@ldakit/format";
import { z } from "zod";
import { BATCH_STATUSES } from "./batch-status.js";
import { CENTROID_METHODS } from "./database.js";

/** A model name, by the one rule of `@ldakit/format` (`modelNameProblem`) as a zod schema. */
export const modelNameSchema = z.string().superRefine((name, ctx) => {
  const problem = modelNameProblem(name);
  if (problem !== null) ctx.addIssue({ code: "custom", message: `invalid model name: ${problem}` });
});

export const batchStatusSchema = z.enum(BATCH_STATUSES);

export const centroidMethodSchema = z.enum(CENTROID_METHODS);

/**
 * A softmax temperature: a positive finite number, or `"auto"` (chosen on held-out questions).
 * Numeric strings such as `"0.1"` (from a command line) are accepted and become numbers.
 */
export const temperatureSchema = z.union([
  z.literal("auto"),
  z.coerce
    .number()
    .refine((t) => Number.isFinite(t) && t > 0, { message: "expected a positive number or auto" }),
]);
export type Temperature = z.infer<typeof temperatureSchema>;
