/**
 * A batch we could not complete; the message is what a person needs to fix it. It never leaves
 * the pipeline: the batch ends `failed` with this message and the run goes on.
 */
export class BatchFailure extends Error {}

export function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
