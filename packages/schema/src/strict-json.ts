/**
 * A strict JSON reader for the files people hand to ldakit. `JSON.parse` accepts things that
 * later turn into silently wrong data: a repeated key keeps its last value, invalid UTF-8
 * becomes U+FFFD before the parser ever sees it, and `"\ud800"` yields a string SQLite stores
 * as bytes no UTF-8 reader accepts. This reader takes the file's bytes (or text), and gives the
 * same value `JSON.parse` would for any RFC 8259 text without those hazards; otherwise it
 * throws a {@link StrictJsonError} with the line and column (and byte offset) of the problem.
 *
 * Objects are built without a prototype, so `__proto__` and `constructor` are ordinary keys,
 * kept as Python's `json` keeps them. Nesting depth is not limited: the reader does not recurse.
 */
import { findJsonSyntaxError, lineColumnAt } from "./json-error.js";

/** Why a JSON text was refused, and where. */
export class StrictJsonError extends SyntaxError {
  override readonly name = "StrictJsonError";
  /** What is wrong, without position. */
  readonly reason: string;
  /** 1-based line; `\n`, `\r\n` and a lone `\r` each end a line. */
  readonly line: number;
  /** 1-based column, in code points. */
  readonly column: number;
  /** UTF-16 offset into the decoded text (after a UTF-8 byte-order mark). */
  readonly offset: number;
  /** Byte offset into the input, when the input was bytes. */
  readonly byteOffset: number | undefined;

  constructor(
    reason: string,
    where: { line: number; column: number; offset: number; byteOffset?: number | undefined },
  ) {
    super(`JSON parse error at line ${where.line}, column ${where.column}: ${reason}`);
    this.reason = reason;
    this.line = where.line;
    this.column = where.column;
    this.offset = where.offset;
    this.byteOffset = where.byteOffset;
  }
}

const hex2 = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, "0")}`;

/**
 * A file in UTF-16 or UTF-32 shows it in its first bytes: a byte-order mark, or (RFC 4627 §3)
 * NUL bytes around the ASCII character every JSON text starts with.
 */
function wideEncoding(bytes: Uint8Array): { name: string; how: string } | null {
  const [b0, b1, b2, b3] = bytes;
  const bom = (marks: string) => `it starts with the byte-order mark ${marks}`;
  if (b0 === 0x00 && b1 === 0x00 && b2 === 0xfe && b3 === 0xff) {
    return { name: "UTF-32BE", how: bom("00 00 FE FF") };
  }
  if (b0 === 0xff && b1 === 0xfe && b2 === 0x00 && b3 === 0x00) {
    return { name: "UTF-32LE", how: bom("FF FE 00 00") };
  }
  if (b0 === 0xfe && b1 === 0xff) return { name: "UTF-16BE", how: bom("FE FF") };
  if (b0 === 0xff && b1 === 0xfe) return { name: "UTF-16LE", how: bom("FF FE") };
  if (bytes.length < 4) return null;
  const nul = "its first characters are ASCII padded with NUL bytes";
  if (b0 === 0 && b1 === 0 && b2 === 0 && b3 !== 0) return { name: "UTF-32BE", how: nul };
  if (b0 !== 0 && b1 === 0 && b2 === 0 && b3 === 0) return { name: "UTF-32LE", how: nul };
  if (b0 === 0 && b1 !== 0 && b2 === 0 && b3 !== 0) return { name: "UTF-16BE", how: nul };
  if (b0 !== 0 && b1 === 0 && b2 !== 0 && b3 === 0) return { name: "UTF-16LE", how: nul };
  return null;
}

/**
 * The first byte that breaks UTF-8 (Unicode §3.9, Table 3-7: no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF), or null. Only called once a fatal decode has failed.
 */
function firstInvalidUtf8(bytes: Uint8Array, from: number): { at: number; why: string } | null {
  const n = bytes.length;
  const cont = (k: number) => k < n && ((bytes[k] as number) & 0xc0) === 0x80;
  for (let i = from; i < n; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else {
      const why =
        b <= 0xbf
          ? `byte ${hex2(b)} continues a character that did not start`
          : `byte ${hex2(b)} never occurs in UTF-8`;
      return { at: i, why };
    }
    const second = bytes[i + 1];
    if (second === undefined || second < lo || second > hi) {
      const what =
        b === 0xed && second !== undefined && second >= 0xa0 && second <= 0xbf
          ? `bytes ${hex2(b)} ${hex2(second)} encode a UTF-16 surrogate`
          : `byte ${hex2(b)} starts a ${need + 1}-byte character that is cut short`;
      return { at: i, why: what };
    }
    for (let k = 2; k <= need; k++) {
      if (!cont(i + k)) {
        return {
          at: i,
          why: `byte ${hex2(b)} starts a ${need + 1}-byte character that is cut short`,
        };
      }
    }
    i += need + 1;
  }
  return null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of a UTF-8 file, or a {@link StrictJsonError} naming the encoding or the bad byte. */
function decodeUtf8(bytes: Uint8Array): { text: string; bomBytes: number } {
  const wide = wideEncoding(bytes);
  if (wide) {
    throw new StrictJsonError(`the file is ${wide.name} (${wide.how}); save it as UTF-8`, {
      line: 1,
      column: 1,
      offset: 0,
      byteOffset: 0,
    });
  }
  const bomBytes = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const body = bomBytes ? bytes.subarray(bomBytes) : bytes;
  try {
    return { text: utf8.decode(body), bomBytes };
  } catch {
    const bad = firstInvalidUtf8(bytes, bomBytes) ?? { at: bytes.length, why: "invalid UTF-8" };
    const before = utf8.decode(bytes.subarray(bomBytes, bad.at));
    throw new StrictJsonError(
      `invalid UTF-8 at byte offset ${bad.at}: ${bad.why}; save the file as UTF-8`,
      { ...lineColumnAt(before, before.length), offset: before.length, byteOffset: bad.at },
    );
  }
}

/** How many UTF-8 bytes `text.slice(0, end)` takes (for byte offsets of errors only). */
function utf8Length(text: string, end: number): number {
  return new TextEncoder().encode(text.slice(0, end)).length;
}

type Container =
  | { array: unknown[]; object?: undefined; key?: undefined }
  | { object: Record<string, unknown>; key: string; array?: undefined };

/**
 * Reads a JSON text strictly. `source` is the file's bytes (UTF-8; a UTF-8 byte-order mark is
 * ignored, as RFC 8259 §8.1 allows) or its text (a leading U+FEFF is ignored). Returns what
 * `JSON.parse` would, with objects that have no prototype. Throws {@link StrictJsonError} for
 * a syntax error (with `JSON.parse`'s reason), invalid UTF-8, a UTF-16 or UTF-32 file, a key
 * repeated in one object, NUL (a raw byte or `\u0000`) and a lone surrogate (`\ud800`).
 */
export function parseStrictJson(source: string | Uint8Array): unknown {
  let text: string;
  let bomBytes = 0;
  let bytes: Uint8Array | null = null;
  if (typeof source === "string") {
    text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  } else {
    bytes = source;
    ({ text, bomBytes } = decodeUtf8(source));
  }
  const t = text;
  const n = t.length;
  let i = 0;

  const fail = (offset: number, reason: string): never => {
    throw new StrictJsonError(reason, {
      ...lineColumnAt(t, offset),
      offset,
      byteOffset: bytes ? bomBytes + utf8Length(t, offset) : undefined,
    });
  };
  /** A grammar error: JSON.parse's reason and offset, as `findJsonSyntaxError` reproduces them. */
  const syntax = (at: number): never => {
    if (t.charCodeAt(at) === 0) fail(at, "NUL byte (U+0000); ldakit refuses NUL in texts");
    const found = findJsonSyntaxError(t);
    if (found) fail(found.offset, found.reason);
    return fail(at, at >= n ? "Unexpected end of JSON input" : "Unexpected token");
  };
  const skipWhitespace = () => {
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const hexDigit = (c: number) => {
    if (c >= 0x30 && c <= 0x39) return c - 0x30;
    if (c >= 0x61 && c <= 0x66) return c - 0x57;
    if (c >= 0x41 && c <= 0x46) return c - 0x37;
    return -1;
  };
  /** The code unit of `\uXXXX` whose backslash is at `at`, or -1 if it is not one. */
  const unicodeEscape = (at: number) => {
    if (t.charCodeAt(at) !== 0x5c || t.charCodeAt(at + 1) !== 0x75) return -1;
    let v = 0;
    for (let k = at + 2; k < at + 6; k++) {
      const d = hexDigit(t.charCodeAt(k));
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  };

  /** i is at the opening quote; leaves i after the closing one. */
  const readString = (): string => {
    const start = ++i;
    // most strings have no escape: one slice
    for (;;) {
      if (i >= n) syntax(i);
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        return t.slice(start, i++);
      }
      if (c === 0x5c) break;
      if (c < 0x20) syntax(i);
      if ((c & 0xf800) === 0xd800) checkRawSurrogate(c);
      i++;
    }
    let out = t.slice(start, i);
    for (;;) {
      if (i >= n) syntax(i);
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c === 0x5c) {
        const e = t.charCodeAt(i + 1);
        switch (e) {
          case 0x22:
            out += '"';
            break;
          case 0x5c:
            out += "\\";
            break;
          case 0x2f:
            out += "/";
            break;
          case 0x62:
            out += "\b";
            break;
          case 0x66:
            out += "\f";
            break;
          case 0x6e:
            out += "\n";
            break;
          case 0x72:
            out += "\r";
            break;
          case 0x74:
            out += "\t";
            break;
          case 0x75: {
            const u = unicodeEscape(i);
            if (u < 0) syntax(i);
            if (u === 0) fail(i, "\\u0000 (NUL) in a string; ldakit refuses NUL in texts");
            if (u >= 0xd800 && u <= 0xdbff) {
              const low = unicodeEscape(i + 6);
              if (low < 0xdc00 || low > 0xdfff) {
                fail(
                  i,
                  `lone surrogate \\u${t.slice(i + 2, i + 6)}: a high surrogate must be followed by a low one (\\udc00-\\udfff)`,
                );
              }
              out += String.fromCharCode(u, low);
              i += 12;
              continue;
            }
            if (u >= 0xdc00 && u <= 0xdfff) {
              fail(
                i,
                `lone surrogate \\u${t.slice(i + 2, i + 6)}: a low surrogate must follow a high one (\\ud800-\\udbff)`,
              );
            }
            out += String.fromCharCode(u);
            i += 6;
            continue;
          }
          default:
            syntax(i);
        }
        i += 2;
        continue;
      }
      if (c < 0x20) syntax(i);
      // a run of plain characters is appended at once
      const run = i;
      while (i < n) {
        const d = t.charCodeAt(i);
        if (d === 0x22 || d === 0x5c || d < 0x20) break;
        if ((d & 0xf800) === 0xd800) checkRawSurrogate(d);
        i++;
      }
      out += t.slice(run, i);
    }
  };
  /** Text given as a string may hold a lone surrogate itself (bytes cannot: UTF-8 has none). */
  const checkRawSurrogate = (c: number) => {
    if (c <= 0xdbff) {
      const d = t.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // the pair is one character; the caller steps past the second half
        return;
      }
    }
    fail(i, `lone surrogate U+${c.toString(16).toUpperCase()} in a string`);
  };

  const readNumber = (): number => {
    const start = i;
    if (t.charCodeAt(i) === 0x2d) i++;
    const isDigit = (k: number) => {
      const c = t.charCodeAt(k);
      return c >= 0x30 && c <= 0x39;
    };
    if (t.charCodeAt(i) === 0x30) {
      i++;
      if (isDigit(i)) syntax(i);
    } else {
      if (!isDigit(i)) syntax(i);
      while (isDigit(i)) i++;
    }
    if (t.charCodeAt(i) === 0x2e) {
      i++;
      if (!isDigit(i)) syntax(i);
      while (isDigit(i)) i++;
    }
    const e = t.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const s = t.charCodeAt(i);
      if (s === 0x2b || s === 0x2d) i++;
      if (!isDigit(i)) syntax(i);
      while (isDigit(i)) i++;
    }
    return Number(t.slice(start, i));
  };

  const literal = (word: string, value: unknown): unknown => {
    if (!t.startsWith(word, i)) syntax(i);
    i += word.length;
    return value;
  };

  /** i is at the opening quote of a member name; reads `"name" :` and refuses a repeated name. */
  const readKey = (object: Record<string, unknown>): string => {
    const at = i;
    const key = readString();
    if (key in object) {
      fail(
        at,
        `duplicate key ${JSON.stringify(key)} in one object (a reader would keep only one of its values)`,
      );
    }
    skipWhitespace();
    if (t.charCodeAt(i) !== 0x3a) syntax(i);
    i++;
    return key;
  };

  const stack: Container[] = [];
  let value: unknown;
  for (;;) {
    // a value starts here
    skipWhitespace();
    const c = t.charCodeAt(i);
    if (c === 0x7b) {
      i++;
      skipWhitespace();
      const object = Object.create(null) as Record<string, unknown>;
      if (t.charCodeAt(i) === 0x7d) {
        i++;
        value = object;
      } else {
        if (t.charCodeAt(i) !== 0x22) syntax(i);
        stack.push({ object, key: readKey(object) });
        continue;
      }
    } else if (c === 0x5b) {
      i++;
      skipWhitespace();
      const array: unknown[] = [];
      if (t.charCodeAt(i) === 0x5d) {
        i++;
        value = array;
      } else {
        stack.push({ array });
        continue;
      }
    } else if (c === 0x22) value = readString();
    else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) value = readNumber();
    else if (c === 0x74) value = literal("true", true);
    else if (c === 0x66) value = literal("false", false);
    else if (c === 0x6e) value = literal("null", null);
    else syntax(i);

    // a value ended: put it in its container, and close every container that ends here
    for (;;) {
      const top = stack[stack.length - 1];
      skipWhitespace();
      if (top === undefined) {
        if (i < n) syntax(i);
        return value;
      }
      const next = t.charCodeAt(i);
      if (top.array) {
        top.array.push(value);
        if (next === 0x2c) {
          i++;
          break;
        }
        if (next !== 0x5d) syntax(i);
        i++;
        value = top.array;
      } else {
        top.object[top.key] = value;
        if (next === 0x2c) {
          i++;
          skipWhitespace();
          if (t.charCodeAt(i) !== 0x22) syntax(i);
          top.key = readKey(top.object);
          break;
        }
        if (next !== 0x7d) syntax(i);
        i++;
        value = top.object;
      }
      stack.pop();
    }
  }
}
