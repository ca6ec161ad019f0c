import { NpyError } from "./errors.js";

/** A value of the Python literal subset that NPY headers are written in; a bare number is a Python int. */
export type PyValue =
  | string
  | number
  | { kind: "float"; value: number }
  | boolean
  | null
  | { kind: "tuple"; items: PyValue[] }
  | { kind: "list"; items: PyValue[] }
  | { kind: "dict"; entries: Map<PyValue, PyValue> };

// Python's tokenizer takes no vertical tab (U+000B) as whitespace: NumPy refuses a header with one.
const WHITESPACE = new Set([" ", "\t", "\n", "\r", "\f"]);
const isDigit = (ch: string): boolean => ch >= "0" && ch <= "9";
const isOctalDigit = (ch: string): boolean => ch >= "0" && ch <= "7";
const isHexDigit = (ch: string): boolean =>
  isDigit(ch) || (ch >= "a" && ch <= "f") || (ch >= "A" && ch <= "F");
const isNameChar = (ch: string): boolean =>
  ch === "_" || isDigit(ch) || (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z");
/**
 * How deeply lists, tuples and dicts may nest. NumPy writes at most a few levels (a nested
 * structured dtype); the limit keeps a hostile header from exhausting the call stack.
 */
export const MAX_NESTING_DEPTH = 64;
const ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
  "0": "\0",
};

/**
 * Parses the Python literal an NPY header holds, as `ast.literal_eval` would: dicts, tuples,
 * lists, strings, integers, floats, True/False/None, any whitespace and trailing commas.
 * `allowLongSuffix` accepts Python 2's `3L` integers, which NumPy tolerates in v1/v2 headers.
 */
export function parsePythonLiteral(text: string, allowLongSuffix = false): PyValue {
  let pos = 0;
  let sawLongSuffix = false;

  const fail = (what: string): never => {
    const near = JSON.stringify(text.slice(pos, pos + 20));
    throw new NpyError(
      "BAD_HEADER",
      `header is not a Python literal: ${what} at offset ${pos} (near ${near})`,
    );
  };
  const skipSpace = (): void => {
    while (pos < text.length && WHITESPACE.has(text.charAt(pos))) pos++;
  };
  /**
   * Whitespace outside any bracket, as Python's tokenizer reads it (inside brackets any of
   * WHITESPACE goes): a line holding the literal must start in column 0, and a line of only
   * spaces and tabs counts as indented unless a newline ends it. A form feed resets the column.
   * `ast.literal_eval` first strips spaces and tabs from the very start.
   */
  const skipOuterLines = (before: boolean): void => {
    if (before) {
      while (text.charAt(pos) === " " || text.charAt(pos) === "\t") pos++;
    } else {
      while (" \t\f".includes(text.charAt(pos)) && pos < text.length) pos++;
      if (pos === text.length) return;
      if (text.charAt(pos) !== "\n" && text.charAt(pos) !== "\r") {
        fail("unexpected text after the literal");
      }
    }
    for (;;) {
      let indented = false;
      for (let ch = text.charAt(pos); ch === " " || ch === "\t" || ch === "\f"; ) {
        indented = ch !== "\f";
        ch = text.charAt(++pos);
      }
      const ch = text.charAt(pos);
      if (ch === "\n" || ch === "\r") {
        pos += ch === "\r" && text.charAt(pos + 1) === "\n" ? 2 : 1;
        continue;
      }
      if (indented) fail("unexpected indent outside brackets");
      if (!before && pos !== text.length) fail("unexpected text after the literal");
      return;
    }
  };
  const peek = (): string => {
    skipSpace();
    return text.charAt(pos);
  };

  const parseString = (): string => {
    const quote = text.charAt(pos);
    pos++;
    let out = "";
    while (pos < text.length) {
      const ch = text.charAt(pos);
      if (ch === quote) {
        pos++;
        return out;
      }
      // Python's tokenizer reads a lone CR as a line end, so it cannot sit inside a string either.
      if (ch === "\n" || ch === "\r") fail("newline inside a string");
      if (ch === "\\") {
        const esc = text.charAt(pos + 1);
        if (esc === "0" && isOctalDigit(text.charAt(pos + 2))) {
          // Python reads `\012` as one octal escape; NUL followed by "12" would be a wrong value.
          fail("octal escape in a string");
        }
        const simple = ESCAPES[esc];
        if (simple !== undefined) {
          out += simple;
          pos += 2;
          continue;
        }
        const hexLength = esc === "x" ? 2 : esc === "u" ? 4 : esc === "U" ? 8 : 0;
        const hex = text.slice(pos + 2, pos + 2 + hexLength);
        if (hexLength === 0 || hex.length !== hexLength || ![...hex].every(isHexDigit)) {
          fail("unknown escape in a string");
        }
        const codePoint = Number.parseInt(hex, 16);
        // Python refuses code points past Unicode too; lone surrogates it keeps, as JS strings can.
        if (codePoint > 0x10ffff) fail(`escape \\${esc}${hex} is past U+10FFFF`);
        out += String.fromCodePoint(codePoint);
        pos += 2 + hexLength;
        continue;
      }
      out += ch;
      pos++;
    }
    return fail("unterminated string");
  };

  /** Digits with single underscores between them, as Python allows; returns them without. */
  const scanDigits = (): string => {
    let digits = "";
    while (isDigit(text.charAt(pos))) {
      digits += text.charAt(pos);
      pos++;
      if (text.charAt(pos) === "_" && isDigit(text.charAt(pos + 1))) pos++;
    }
    return digits;
  };

  const parseNumber = (): PyValue => {
    let sign = 1;
    // One sign only: `ast.literal_eval` refuses `- -3` and `+-3`.
    if (text.charAt(pos) === "+" || text.charAt(pos) === "-") {
      if (text.charAt(pos) === "-") sign = -1;
      pos++;
      skipSpace();
    }
    const start = pos;
    let body = scanDigits();
    let isFloat = false;
    if (text.charAt(pos) === ".") {
      isFloat = true;
      pos++;
      body += `.${scanDigits()}`;
    }
    if (body === "" || body === ".") fail("malformed number");
    if (text.charAt(pos) === "e" || text.charAt(pos) === "E") {
      isFloat = true;
      pos++;
      let exponent = "";
      if (text.charAt(pos) === "+" || text.charAt(pos) === "-") exponent = text.charAt(pos++);
      const digits = scanDigits();
      if (digits === "") fail("malformed exponent");
      body += `e${exponent}${digits}`;
    } else if (allowLongSuffix && (text.charAt(pos) === "L" || text.charAt(pos) === "l")) {
      pos++;
      sawLongSuffix = true;
    }
    if (isNameChar(text.charAt(pos))) {
      pos = start;
      fail("malformed number");
    }
    if (!isFloat && /^0+[1-9]/.test(body)) {
      // Python 3 refuses `01` (it was octal in Python 2); reading it as 1 would guess.
      pos = start;
      fail("leading zeros in an integer");
    }
    const value = sign * Number(body);
    if (isFloat) return { kind: "float", value };
    // Python's int -0 is 0; a -0 in a shape would print and compare unlike the 0 NumPy reads.
    return value === 0 ? 0 : value;
  };

  const parseSequence = (close: string): PyValue[] => {
    const items: PyValue[] = [];
    pos++;
    for (;;) {
      if (peek() === close) {
        pos++;
        return items;
      }
      items.push(parseValue());
      const next = peek();
      if (next === ",") {
        pos++;
      } else if (next !== close) {
        fail(`expected ',' or '${close}'`);
      }
    }
  };

  const parseTupleOrGroup = (): PyValue => {
    pos++;
    if (peek() === ")") {
      pos++;
      return { kind: "tuple", items: [] };
    }
    const first = parseValue();
    if (peek() === ")") {
      // `(3)` is a parenthesised int in Python, not a tuple.
      pos++;
      return first;
    }
    const items = [first];
    while (peek() === ",") {
      pos++;
      if (peek() === ")") break;
      items.push(parseValue());
    }
    if (peek() !== ")") fail("expected ',' or ')'");
    pos++;
    return { kind: "tuple", items };
  };

  const parseDict = (): PyValue => {
    pos++;
    const entries = new Map<PyValue, PyValue>();
    for (;;) {
      if (peek() === "}") {
        pos++;
        return { kind: "dict", entries };
      }
      const key = parseValue();
      if (peek() !== ":") fail("expected ':' after a dict key");
      pos++;
      entries.set(key, parseValue());
      const next = peek();
      if (next === ",") pos++;
      else if (next !== "}") fail("expected ',' or '}'");
    }
  };

  const parseWord = (): PyValue => {
    let end = pos;
    while (end < text.length && isNameChar(text.charAt(end))) end++;
    const word = isDigit(text.charAt(pos)) ? "" : text.slice(pos, end);
    if (word === "True" || word === "False" || word === "None") {
      pos += word.length;
      return word === "None" ? null : word === "True";
    }
    const after = text.charAt(pos + 1);
    if ((word === "u" || word === "U") && (after === "'" || after === '"')) {
      pos++;
      return parseString();
    }
    return fail(word ? `unexpected name '${word}'` : "unexpected character");
  };

  let depth = 0;
  const nested = (parse: () => PyValue): PyValue => {
    if (depth === MAX_NESTING_DEPTH) fail(`nested deeper than ${MAX_NESTING_DEPTH} levels`);
    depth++;
    const value = parse();
    depth--;
    return value;
  };

  function parseValue(): PyValue {
    const ch = peek();
    if (ch === "") return fail("unexpected end of header");
    if (ch === "'" || ch === '"') return parseString();
    if (ch === "(") return nested(parseTupleOrGroup);
    if (ch === "[") return nested(() => ({ kind: "list", items: parseSequence("]") }));
    if (ch === "{") return nested(parseDict);
    if (isDigit(ch) || ch === "." || ch === "+" || ch === "-") return parseNumber();
    return parseWord();
  }

  skipOuterLines(true);
  const literalStart = pos;
  const value = parseValue();
  skipOuterLines(false);
  if (sawLongSuffix && /\f|\r(?!\n)/.test(text.slice(0, literalStart))) {
    // NumPy reads `3L` by re-tokenizing with Python's `tokenize` module, which fails on these.
    pos = 0;
    fail("a form feed or lone CR before a literal with Python 2 'L' integers");
  }
  return value;
}
