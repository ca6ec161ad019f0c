/** Timestamps are ISO-8601 UTC text (docs/FORMAT.md §5). */
export const now = (): string => new Date().toISOString();
