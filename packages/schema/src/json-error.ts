/**
 * Where a JSON syntax error is, as a line and column a person can jump to.
 *
 * V8's `JSON.parse` messages come in several forms (Node 20):
 *   - `<reason> in JSON at position N`                      (most errors)
 *   - `Unexpected non-whitespace character after JSON at position N`
 *   - `<reason> in JSON at position N (line L column C)`    (Node ≥ 21)
 *   - `Unexpected token 'x', "<source or part of it>" is not valid JSON` — no position; the
 *     quoted context is the whole text, or ~10 characters either side with `...`
 *   - `Unexpected end of JSON input`                        — no position: the end of the text
 * When the message has a position it is used; otherwise the position is found by
 * {@link findJsonSyntaxError}, a small validating scanner that follows the JSON grammar
 * (RFC 8259) the way V8's parser does.
 */

export interface JsonErrorLocation {
  /** UTF-16 offset into the text (as in V8's "at position N"). */
  offset: number;
  /** 1-based line; `\n`, `\r\n` and a lone `\r` each end a line. */
  line: number;
  /** 1-based column, counted in Unicode code points (a tab counts as one). */
  column: number;
  /** What is wrong, without position or context, e.g. `Expected ',' or '}' after property value`. */
  reason: string;
}

const AT_POSITION = /^([\s\S]*?) at position (\d+)(?: \(line \d+ column \d+\))?$/;
const UNEXPECTED_END = "Unexpected end of JSON input";

/** 1-based line and column (in code points) of a UTF-16 offset into `text`. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const end = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  let columnEnd = end;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      lineStart = i + 1;
    } else if (c === 0x0d) {
      if (text.charCodeAt(i + 1) === 0x0a) {
        if (i + 1 === end) {
          columnEnd = i; // the offset is the \n of a \r\n: the line break at the \r
          break;
        }
        i++;
      }
      line++;
      lineStart = i + 1;
    }
  }
  let column = 1;
  for (let i = lineStart; i < columnEnd; i++) {
    const c = text.charCodeAt(i);
    // a surrogate pair is one code point
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < columnEnd) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    column++;
  }
  return { line, column };
}

/**
 * Locates the syntax error of `JSON.parse(text)` from the error it threw (`error`) and the text.
 * Returns `null` only if `error` does not look like a JSON syntax error of this text.
 */
export function locateJsonSyntaxError(text: string, error: unknown): JsonErrorLocation | null {
  const message = error instanceof Error ? error.message : String(error);
  const at = AT_POSITION.exec(message);
  if (at) {
    const offset = Number(at[2]);
    const reason = (at[1] as string).replace(/ in JSON$/, "");
    return { offset, reason, ...lineColumnAt(text, offset) };
  }
  if (message === UNEXPECTED_END) {
    return { offset: text.length, reason: UNEXPECTED_END, ...lineColumnAt(text, text.length) };
  }
  // `Unexpected token 'x', "…" is not valid JSON` (or a form this code does not know): the
  // scanner finds the same token V8 stopped at, and names it by its whole code point.
  const found = findJsonSyntaxError(text);
  if (found === null) return null;
  return { ...found, ...lineColumnAt(text, found.offset) };
}

/**
 * Scans `text` as JSON (RFC 8259, as `JSON.parse` accepts it) without building values and
 * returns the offset and a reason for the first syntax error, or `null` if the text is valid.
 * Reasons and offsets follow V8's messages. Nesting depth is not limited (no recursion).
 */
export function findJsonSyntaxError(text: string): { offset: number; reason: string } | null {
  const n = text.length;
  let i = 0;
  /** open containers: true = object, false = array */
  const stack: boolean[] = [];

  const end = () => ({ offset: n, reason: UNEXPECTED_END });
  const fail = (offset: number, reason: string) => ({ offset, reason });
  /** V8's message for "this token cannot come here" where it has no more specific one */
  const unexpected = (at: number) => {
    if (at >= n) return end();
    const c = text.charCodeAt(at);
    if (c === 0x22) return fail(at, "Unexpected string");
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return fail(at, "Unexpected number");
    const ch = String.fromCodePoint(text.codePointAt(at) ?? 0);
    return fail(at, `Unexpected token '${ch}'`);
  };
  const skipWhitespace = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
  const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

  /** i is at the opening quote */
  const scanString = () => {
    i++;
    for (;;) {
      if (i >= n) return fail(n, "Unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return null;
      }
      if (c === 0x5c) {
        i++;
        if (i >= n) return end();
        const e = text.charCodeAt(i);
        if (e === 0x75 /* u */) {
          i++;
          for (let k = 0; k < 4; k++, i++) {
            if (i >= n || !isHex(text.charCodeAt(i))) return fail(i, "Bad Unicode escape");
          }
          continue;
        }
        // " \ / b f n r t
        if (
          e === 0x22 ||
          e === 0x5c ||
          e === 0x2f ||
          e === 0x62 ||
          e === 0x66 ||
          e === 0x6e ||
          e === 0x72 ||
          e === 0x74
        ) {
          i++;
          continue;
        }
        // V8 treats a character beyond Latin-1 after the backslash as an unexpected token
        return e > 0xff ? unexpected(i) : fail(i, "Bad escaped character");
      }
      if (c < 0x20) return fail(i, "Bad control character in string literal");
      i++;
    }
  };

  const scanNumber = () => {
    if (text.charCodeAt(i) === 0x2d) {
      i++;
      if (i >= n || !isDigit(text.charCodeAt(i))) return fail(i, "No number after minus sign");
    }
    if (text.charCodeAt(i) === 0x30) {
      i++;
      if (i < n && isDigit(text.charCodeAt(i))) return fail(i, "Unexpected number");
    } else {
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    }
    if (i < n && text.charCodeAt(i) === 0x2e) {
      i++;
      if (i >= n || !isDigit(text.charCodeAt(i))) return fail(i, "Unterminated fractional number");
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    }
    if (i < n && (text.charCodeAt(i) === 0x65 || text.charCodeAt(i) === 0x45)) {
      i++;
      if (i < n && (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d)) i++;
      if (i >= n || !isDigit(text.charCodeAt(i)))
        return fail(i, "Exponent part is missing a number");
      while (i < n && isDigit(text.charCodeAt(i))) i++;
    }
    return null;
  };

  const scanLiteral = (literal: string) => {
    for (let k = 0; k < literal.length; k++, i++) {
      if (i >= n) return end();
      if (text.charCodeAt(i) !== literal.charCodeAt(k)) return unexpected(i);
    }
    return null;
  };

  /**
   * i is at the opening quote of a member name; scans `"name" :`. V8 names the missing colon
   * only after an object's first name; after the others it reports the token it found.
   */
  const scanMemberName = (first: boolean) => {
    const error = scanString();
    if (error) return error;
    skipWhitespace();
    if (i >= n || text.charCodeAt(i) !== 0x3a) {
      return first ? fail(i, "Expected ':' after property name") : unexpected(i);
    }
    i++;
    return null;
  };

  let expectValue = true;
  for (;;) {
    if (expectValue) {
      expectValue = false;
      skipWhitespace();
      if (i >= n) return end();
      const c = text.charCodeAt(i);
      let error: { offset: number; reason: string } | null = null;
      if (c === 0x7b /* { */) {
        i++;
        skipWhitespace();
        if (i < n && text.charCodeAt(i) === 0x7d) {
          i++;
        } else {
          if (i >= n || text.charCodeAt(i) !== 0x22) {
            return fail(i, "Expected property name or '}'");
          }
          error = scanMemberName(true);
          if (error) return error;
          stack.push(true);
          expectValue = true;
          continue;
        }
      } else if (c === 0x5b /* [ */) {
        i++;
        skipWhitespace();
        if (i < n && text.charCodeAt(i) === 0x5d) {
          i++;
        } else {
          stack.push(false);
          expectValue = true;
          continue;
        }
      } else if (c === 0x22) {
        error = scanString();
      } else if (c === 0x2d || isDigit(c)) {
        error = scanNumber();
      } else if (c === 0x74) {
        error = scanLiteral("true");
      } else if (c === 0x66) {
        error = scanLiteral("false");
      } else if (c === 0x6e) {
        error = scanLiteral("null");
      } else {
        return unexpected(i);
      }
      if (error) return error;
    }

    // after a value
    skipWhitespace();
    if (stack.length === 0) {
      return i < n ? fail(i, "Unexpected non-whitespace character after JSON") : null;
    }
    const c = i < n ? text.charCodeAt(i) : -1;
    const inObject = stack[stack.length - 1] as boolean;
    if (c === 0x2c /* , */) {
      i++;
      if (inObject) {
        skipWhitespace();
        if (i >= n || text.charCodeAt(i) !== 0x22) {
          return fail(i, "Expected double-quoted property name");
        }
        const error = scanMemberName(false);
        if (error) return error;
      }
      expectValue = true;
    } else if (c === (inObject ? 0x7d : 0x5d)) {
      i++;
      stack.pop();
    } else {
      return fail(
        i,
        inObject
          ? "Expected ',' or '}' after property value"
          : "Expected ',' or ']' after array element",
      );
    }
  }
}
