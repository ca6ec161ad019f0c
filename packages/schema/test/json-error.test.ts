import { describe, expect, it } from "vitest";
import {
  findJsonSyntaxError,
  lineColumnAt,
  locateJsonSyntaxError,
  parseRawJson,
  RawDataError,
} from "../src/index.js";

function parseError(text: string): Error {
  try {
    JSON.parse(text);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be invalid JSON`);
}

function syntaxErrorOf(text: string): RawDataError {
  try {
    parseRawJson(text);
  } catch (error) {
    expect(error).toBeInstanceOf(RawDataError);
    return error as RawDataError;
  }
  throw new Error("expected a RawDataError");
}

describe("lineColumnAt", () => {
  it("counts lines and columns from 1", () => {
    expect(lineColumnAt("abc", 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumnAt("abc", 2)).toEqual({ line: 1, column: 3 });
    expect(lineColumnAt("abc", 3)).toEqual({ line: 1, column: 4 });
    expect(lineColumnAt("ab\ncd", 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumnAt("ab\ncd", 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumnAt("ab\n", 3)).toEqual({ line: 2, column: 1 });
  });

  it("treats \\r\\n as one line break and a lone \\r as one", () => {
    expect(lineColumnAt("a\r\nb\r\nc", 6)).toEqual({ line: 3, column: 1 });
    expect(lineColumnAt("a\r\nb", 3)).toEqual({ line: 2, column: 1 });
    expect(lineColumnAt("a\r\nb", 2)).toEqual({ line: 1, column: 2 }); // the \n of \r\n
    expect(lineColumnAt("a\rb\rc", 4)).toEqual({ line: 3, column: 1 });
  });

  it("counts columns in code points, a tab as one", () => {
    expect(lineColumnAt('"😀😀" x', 6)).toEqual({ line: 1, column: 5 });
    expect(lineColumnAt("\t\tx", 2)).toEqual({ line: 1, column: 3 });
    expect(lineColumnAt("é", 1)).toEqual({ line: 1, column: 2 });
  });

  it("clamps offsets outside the text", () => {
    expect(lineColumnAt("ab\nc", 99)).toEqual({ line: 2, column: 2 });
    expect(lineColumnAt("ab", -5)).toEqual({ line: 1, column: 1 });
  });
});

describe("locateJsonSyntaxError for each form of Node's JSON.parse message", () => {
  // text, expected line, column, reason
  const cases: Array<[string, string, number, number, string]> = [
    // "<reason> in JSON at position N"
    ["at position", '{\n  "a": 1\n  "b": 2\n}', 3, 3, "Expected ',' or '}' after property value"],
    ["at position, first key", '{"a" 1}', 1, 6, "Expected ':' after property name"],
    ["at position, string", '{\n  "a": 1,\n  "b" "c"\n}', 3, 7, "Unexpected string"],
    ["at position, number", '{"a": 1,\n "b" 2}', 2, 6, "Unexpected number"],
    [
      "at position, trailing comma",
      '{\n  "a": 1,\n}',
      3,
      1,
      "Expected double-quoted property name",
    ],
    ["at position, control character", '["a\tb"]', 1, 4, "Bad control character in string literal"],
    ["at position, escape", '["a\\qb"]', 1, 5, "Bad escaped character"],
    ["at position, unicode escape", '["\\u12x4"]', 1, 7, "Bad Unicode escape"],
    ["at position, unterminated string", '{"a": "b', 1, 9, "Unterminated string"],
    [
      "at position, newline in string",
      '{"a": "b\n"}',
      1,
      9,
      "Bad control character in string literal",
    ],
    [
      "at position, after JSON",
      "{}\n\n  {}",
      3,
      3,
      "Unexpected non-whitespace character after JSON",
    ],
    [
      "at position, CRLF",
      '{\r\n  "a": 1\r\n  "b": 2\r\n}',
      3,
      3,
      "Expected ',' or '}' after property value",
    ],
    // "Unexpected token 'x', "<whole text>" is not valid JSON" (short text)
    ["token, short text", "[1,]", 1, 4, "Unexpected token ']'"],
    // "Unexpected token 'x', "<start>"... is not valid JSON"
    ["token, context after", "[x, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", 1, 2, "Unexpected token 'x'"],
    // "Unexpected token 'x', ..."<around>"... is not valid JSON"
    [
      "token, context around",
      '{\n  "clusters": [\n    {"answer": tru, "answer_id": 1, "questions": []}\n  ]\n}',
      3,
      19,
      "Unexpected token ','",
    ],
    // "Unexpected token 'x', ..."<end>" is not valid JSON"
    [
      "token, context before",
      '{"aaaaaaaaaaaaaaaaaaaaaaaaa": 1,\n "b": }',
      2,
      7,
      "Unexpected token '}'",
    ],
    // a token repeated in the context: the scanner finds the right one
    [
      "token, repeated",
      '{"a": [1, 2],\n "b": [1, 2,],\n "c": [1, 2]}',
      2,
      13,
      "Unexpected token ']'",
    ],
    // a character outside the BMP is named whole
    ["token, astral", '{"aaaaaaaaaaaaaaaaaaaaaa": 😀}', 1, 28, "Unexpected token '😀'"],
    // "Unexpected end of JSON input": the end of the text
    ["end", '{\n  "a": [1, ', 2, 12, "Unexpected end of JSON input"],
    [
      "at position, end of text",
      '{\n  "a": [1, 2',
      2,
      13,
      "Expected ',' or ']' after array element",
    ],
    ["end, trailing newline", '{"a": [\n', 2, 1, "Unexpected end of JSON input"],
    ["end, empty", "", 1, 1, "Unexpected end of JSON input"],
    ["end, literal", "[nul", 1, 5, "Unexpected end of JSON input"],
  ];

  for (const [name, text, line, column, reason] of cases) {
    it(name, () => {
      const error = parseError(text);
      const location = locateJsonSyntaxError(text, error);
      expect(location).toMatchObject({ line, column, reason });
      // the scanner agrees with V8 (offset and reason) on its own
      expect(findJsonSyntaxError(text)).toMatchObject({ offset: location?.offset });
    });
  }

  it('reads "(line L column C)" suffixes of newer Node versions', () => {
    const text = '{\n  "a": 1\n  "b": 2\n}';
    const error = new SyntaxError(
      "Expected ',' or '}' after property value in JSON at position 13 (line 3 column 3)",
    );
    expect(locateJsonSyntaxError(text, error)).toEqual({
      offset: 13,
      line: 3,
      column: 3,
      reason: "Expected ',' or '}' after property value",
    });
  });

  it("falls back to the scanner for a message it does not know", () => {
    const text = '{"a": 1,, "b": 2}';
    expect(locateJsonSyntaxError(text, new SyntaxError("something else"))).toEqual({
      offset: 8,
      line: 1,
      column: 9,
      reason: "Expected double-quoted property name",
    });
    expect(locateJsonSyntaxError("[1]", new SyntaxError("something else"))).toBeNull();
  });
});

describe("findJsonSyntaxError", () => {
  it("accepts valid JSON, including deep nesting", () => {
    for (const text of [
      '{"a": [1, -2.5e+3, true, false, null, "x\\u00e9\\n"]}',
      "0",
      ' "s" ',
      "[]",
    ]) {
      expect(findJsonSyntaxError(text), text).toBeNull();
    }
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(findJsonSyntaxError(deep)).toBeNull();
    expect(findJsonSyntaxError(`${"[".repeat(100_000)}`)).toEqual({
      offset: 100_000,
      reason: "Unexpected end of JSON input",
    });
  });

  it("finds the same error as V8 in thousands of corrupted documents", () => {
    const base = JSON.stringify(
      {
        clusters: [
          { answer: 'Café 😀 "quoted"', answer_id: -12.5e3, questions: ["a\\b", "c\u0001"] },
          { id: "x", answers: { default: "d" }, queries: { short: [true, false, null, {}] } },
        ],
      },
      null,
      2,
    );
    const alphabet = [
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      '"',
      "\\",
      "a",
      "1",
      "-",
      ".",
      "e",
      "+",
      " ",
      "\n",
      "t",
      "n",
      "u",
      "\u0001",
      "0",
      "😀",
      "é",
    ];
    let seed = 7;
    const random = (k: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % k;
    };
    let checked = 0;
    for (let iteration = 0; iteration < 5000; iteration++) {
      let text = base;
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(text.length + 1);
        const ch = alphabet[random(alphabet.length)] as string;
        const op = random(3);
        text =
          op === 0
            ? text.slice(0, at) + text.slice(at + 1)
            : op === 1
              ? text.slice(0, at) + ch + text.slice(at)
              : text.slice(0, at) + ch + text.slice(at + 1);
      }
      let error: Error | null = null;
      try {
        JSON.parse(text);
      } catch (e) {
        error = e as Error;
      }
      const found = findJsonSyntaxError(text);
      if (error === null) {
        expect(found, text).toBeNull();
        continue;
      }
      checked++;
      expect(found, error.message).not.toBeNull();
      const position = / at position (\d+)/.exec(error.message);
      if (position) {
        expect(found?.offset, error.message).toBe(Number(position[1]));
        expect(error.message.startsWith(found?.reason ?? "?"), error.message).toBe(true);
      } else if (error.message === "Unexpected end of JSON input") {
        expect(found).toEqual({ offset: text.length, reason: error.message });
      } else {
        const token = /^Unexpected token '([\s\S]*?)', /.exec(error.message);
        expect(token, error.message).not.toBeNull();
        expect(text[found?.offset ?? -1]).toBe(token?.[1]);
      }
    }
    expect(checked).toBeGreaterThan(2000);
  });
});

describe("parseRawJson syntax errors", () => {
  it("say where: JSON parse error at line L, column C: reason", () => {
    const text =
      '{\n  "clusters": [\n    {"answer": "a", "answer_id": 1 "questions": ["q"]}\n  ]\n}';
    const error = syntaxErrorOf(text);
    expect(error.message).toBe(
      "JSON parse error at line 3, column 36: Expected ',' or '}' after property value",
    );
    expect(error).toMatchObject({ kind: "syntax", line: 3, column: 36, offset: 53 });
    expect(error.issues).toEqual([error.message]);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it("put the file label first when given", () => {
    expect(() => parseRawJson("[1,]", "data/qa.json")).toThrow(
      "data/qa.json: JSON parse error at line 1, column 4: Unexpected token ']'",
    );
  });

  it("count lines and columns of the text after a byte-order mark as an editor shows them", () => {
    const error = syntaxErrorOf('\uFEFF{\n  "clusters": [,]\n}');
    expect(error.message).toBe("JSON parse error at line 2, column 16: Unexpected token ','");
  });

  it("report an empty file at line 1, column 1", () => {
    expect(syntaxErrorOf("").message).toBe(
      "JSON parse error at line 1, column 1: Unexpected end of JSON input",
    );
  });
});
