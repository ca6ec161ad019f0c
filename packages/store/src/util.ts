/** Timestamps are ISO-8601 UTC text (DESIGN §4). */
export const now = (): string => new Date().toISOString();
