import { padId } from "@ldakit/schema";

/** Timestamps are ISO-8601 UTC text (DESIGN §4). */
export const now = (): string => new Date().toISOString();

/** `<model dir>/q_<id>.npy` or `<model dir>/a_<id>.npy` (DESIGN §3), given the model's folder once. */
export function vectorPath(
  modelDir: string,
  entityType: "question" | "answer",
  entityId: number,
): string {
  return `${modelDir}/${entityType === "question" ? "q" : "a"}_${padId(entityId)}.npy`;
}
