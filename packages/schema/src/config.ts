/**
 * zod schemas of the small inputs besides raw Q-A data: model names, CLI option values and
 * the projection metadata file `mh_<id>.json` (DESIGN §3).
 */
import { z } from "zod";
import { BATCH_STATUSES } from "./batch-status.js";
import { CENTROID_METHODS } from "./database.js";
import { modelNameProblem } from "./paths.js";

/** A model name: `[A-Za-z0-9._/-]+`, not `.` or `..` (see `modelFolderName`). */
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

/** The `format` value of `mh_<id>.json`. */
export const PROJECTION_META_FORMAT = "ldakit.mh/1";

const nonNegativeInt = z.number().int().nonnegative();

/** `mh_<id>.json`: enough to discover and use a projection from files alone (DESIGN §3). */
export const projectionMetaSchema = z
  .looseObject({
    format: z.literal(PROJECTION_META_FORMAT),
    mh_projection_id: nonNegativeInt,
    model: modelNameSchema,
    dimensions: z.number().int().positive(),
    temperature: z.number().positive(),
    num_heads: nonNegativeInt,
    cluster_ids: z.array(nonNegativeInt),
  })
  .refine((meta) => meta.cluster_ids.length === meta.num_heads, {
    error: "cluster_ids must list num_heads cluster ids",
    path: ["cluster_ids"],
  });
export type ProjectionMeta = z.infer<typeof projectionMetaSchema>;
