/** Timestamps are ISO-8601 UTC text (docs/FORMAT.md §5). */
export const now = (): string => new Date().toISOString();

/**
 * Why `text` cannot be stored as it is, or undefined when it can. PostgreSQL's `text` cannot hold
 * NUL, and a lone UTF-16 surrogate has no UTF-8 form (SQLite would keep bytes that other readers
 * refuse; PostgreSQL would quietly store U+FFFD instead). Both backends refuse the same texts, so a
 * store means the same on either and copies from one to the other.
 */
export function unstorableText(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return `NUL (U+0000) at position ${i}; ldakit refuses NUL in texts`;
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = text.charCodeAt(i + 1);
      if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        i++;
        continue;
      }
      return `a lone surrogate \\u${c.toString(16)} at position ${i}: it is not Unicode text and has no UTF-8 form`;
    }
  }
  return undefined;
}
