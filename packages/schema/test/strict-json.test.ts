import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseStrictJson, StrictJsonError } from "../src/index.js";

function refusal(source: string | Uint8Array): StrictJsonError {
  try {
    parseStrictJson(source);
  } catch (error) {
    expect(error).toBeInstanceOf(StrictJsonError);
    return error as StrictJsonError;
  }
  throw new Error(`expected ${JSON.stringify(String(source))} to be refused`);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether a parsed value holds text no UTF-8 reader keeps: NUL or a lone surrogate. */
function holdsUnsafeText(value: unknown): boolean {
  const unsafe = (s: string) => s.includes("\u0000") || LONE_SURROGATE.test(s);
  if (typeof value === "string") return unsafe(value);
  if (Array.isArray(value)) return value.some(holdsUnsafeText);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => unsafe(k) || holdsUnsafeText(v));
  }
  return false;
}

const seed = Number(process.env.LDAKIT_FUZZ_SEED ?? 20250113);

describe("parseStrictJson reads every RFC 8259 text as JSON.parse does", () => {
  // JSON.stringify writes a lone surrogate as `\udXXX` and NUL as `\u0000`: the texts that
  // hold them are refused, every other one gives JSON.parse's value
  for (const stringUnit of ["grapheme", "binary"] as const) {
    it(`values of fc.jsonValue (strings: ${stringUnit}), as text and as UTF-8 bytes`, () => {
      fc.assert(
        fc.property(
          fc.jsonValue({ stringUnit }),
          fc.constantFrom<string | number | undefined>(undefined, 2, "\t"),
          fc.boolean(),
          (value, indent, crlf) => {
            let text = JSON.stringify(value, null, indent);
            // strings hold no raw line break, so every \n is between tokens
            if (crlf) text = text.replaceAll("\n", "\r\n");
            const expected = JSON.parse(text);
            if (holdsUnsafeText(expected)) {
              expect(() => parseStrictJson(text)).toThrow(StrictJsonError);
              return;
            }
            expect(parseStrictJson(text)).toStrictEqual(structuredLike(expected));
            expect(parseStrictJson(Buffer.from(text, "utf8"))).toStrictEqual(
              structuredLike(expected),
            );
          },
        ),
        { seed, numRuns: 1000 },
      );
    });
  }

  it("number tokens give Number() of the token, as JSON.parse (-0, 1e400, long mantissas)", () => {
    const digits = fc.string({
      unit: fc.constantFrom(..."0123456789"),
      minLength: 1,
      maxLength: 30,
    });
    const token = fc
      .tuple(
        fc.boolean(),
        fc.oneof(
          fc.constant("0"),
          digits.map((d) => `${"123456789"[d.length % 9]}${d}`),
        ),
        fc.option(
          digits.map((d) => `.${d}`),
          { nil: "" },
        ),
        fc.option(
          fc
            .tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), digits)
            .map((p) => p.join("")),
          { nil: "" },
        ),
      )
      .map(([minus, int, frac, exp]) => `${minus ? "-" : ""}${int}${frac}${exp}`);
    fc.assert(
      fc.property(token, (tok) => {
        expect(Object.is(parseStrictJson(tok), JSON.parse(tok))).toBe(true);
        const padded = `{"n":\r\n\t[ ${tok} ,${tok}]}`;
        expect(parseStrictJson(padded)).toStrictEqual(structuredLike(JSON.parse(padded)));
      }),
      { seed, numRuns: 2000 },
    );
    expect(Object.is(parseStrictJson("-0"), -0)).toBe(true);
    expect(parseStrictJson("1e400")).toBe(Number.POSITIVE_INFINITY);
  });

  it("builds objects without a prototype: __proto__ and constructor are ordinary keys", () => {
    const value = parseStrictJson(
      '{"__proto__": [1], "constructor": {"x": 2}, "toString": 3}',
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.keys(value)).toEqual(["__proto__", "constructor", "toString"]);
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toEqual([1]);
    expect(value.constructor).toEqual(Object.assign(Object.create(null), { x: 2 }));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("reads nesting of any depth without recursion", () => {
    const depth = 100_000;
    let value = parseStrictJson(`${"[".repeat(depth)}7${"]".repeat(depth)}`);
    for (let k = 0; k < depth; k++) value = (value as unknown[])[0];
    expect(value).toBe(7);
    // unclosed: a clean error at the end, not a stack overflow
    const error = refusal("[".repeat(depth));
    expect(error.message).toBe(
      `JSON parse error at line 1, column ${depth + 1}: Unexpected end of JSON input`,
    );
  });

  it("ignores a UTF-8 byte-order mark (RFC 8259 §8.1 lets a reader ignore it)", () => {
    expect(parseStrictJson(Buffer.from('\uFEFF{"a": 1}', "utf8"))).toEqual({ a: 1 });
    expect(parseStrictJson('\uFEFF{"a": 1}')).toEqual({ a: 1 });
    // the byte offset counts the mark's three bytes; line and column do not
    const error = refusal(Buffer.from('\uFEFF{"a" 1}', "utf8"));
    expect(error).toMatchObject({ line: 1, column: 6, offset: 5, byteOffset: 8 });
  });
});

describe("parseStrictJson refuses, with line and column", () => {
  const cases: Array<{
    name: string;
    source: string | Uint8Array;
    message: string;
    byteOffset?: number;
  }> = [
    {
      name: "a key repeated in one object (at the second occurrence)",
      source: Buffer.from('{\n  "a": 1,\n  "b": {"a": 2},\n  "a": 3\n}'),
      message:
        'JSON parse error at line 4, column 3: duplicate key "a" in one object (a reader would keep only one of its values)',
      byteOffset: 31,
    },
    {
      name: "a repeated __proto__ key",
      source: '{"__proto__": 1, "__proto__": 2}',
      message:
        'JSON parse error at line 1, column 18: duplicate key "__proto__" in one object (a reader would keep only one of its values)',
    },
    {
      name: "a high surrogate escape without a low one",
      source: Buffer.from('["ok",\n "a\\ud800b"]'),
      message:
        "JSON parse error at line 2, column 4: lone surrogate \\ud800: a high surrogate must be followed by a low one (\\udc00-\\udfff)",
      byteOffset: 10,
    },
    {
      name: "a low surrogate escape alone",
      source: '["\\uDC00"]',
      message:
        "JSON parse error at line 1, column 3: lone surrogate \\uDC00: a low surrogate must follow a high one (\\ud800-\\udbff)",
    },
    {
      name: "two high surrogate escapes",
      source: '["\\ud83d\\ud83d"]',
      message:
        "JSON parse error at line 1, column 3: lone surrogate \\ud83d: a high surrogate must be followed by a low one (\\udc00-\\udfff)",
    },
    {
      name: "a lone surrogate in text given as a string",
      source: '["x\ud800"]',
      message: "JSON parse error at line 1, column 4: lone surrogate U+D800 in a string",
    },
    {
      name: "a \\u0000 escape",
      source: '{"q": "a\\u0000b"}',
      message:
        "JSON parse error at line 1, column 9: \\u0000 (NUL) in a string; ldakit refuses NUL in texts",
    },
    {
      name: "a raw NUL byte in a string",
      source: Buffer.from('{"q": "a\u0000b"}'),
      message:
        "JSON parse error at line 1, column 9: NUL byte (U+0000); ldakit refuses NUL in texts",
      byteOffset: 8,
    },
    {
      name: "a raw NUL byte between tokens",
      source: Buffer.from("[1,\n\u0000]"),
      message:
        "JSON parse error at line 2, column 1: NUL byte (U+0000); ldakit refuses NUL in texts",
      byteOffset: 4,
    },
    {
      name: "a Latin-1 é",
      source: Buffer.from('{"q": [\n"caf\xe9"]}', "latin1"),
      message:
        "JSON parse error at line 2, column 5: invalid UTF-8 at byte offset 12: byte 0xE9 starts a 3-byte character that is cut short; save the file as UTF-8",
      byteOffset: 12,
    },
    {
      name: "a stray continuation byte after a multi-byte character",
      source: Buffer.concat([Buffer.from('["é'), Buffer.from([0x80]), Buffer.from('"]')]),
      message:
        "JSON parse error at line 1, column 4: invalid UTF-8 at byte offset 4: byte 0x80 continues a character that did not start; save the file as UTF-8",
      byteOffset: 4,
    },
    {
      name: "an encoded surrogate (CESU-8)",
      source: Buffer.from([0x5b, 0x22, 0xed, 0xa0, 0xbd, 0x22, 0x5d]),
      message:
        "JSON parse error at line 1, column 3: invalid UTF-8 at byte offset 2: bytes 0xED 0xA0 encode a UTF-16 surrogate; save the file as UTF-8",
      byteOffset: 2,
    },
    {
      name: "an overlong encoding",
      source: Buffer.from([0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]),
      message:
        "JSON parse error at line 1, column 3: invalid UTF-8 at byte offset 2: byte 0xC0 never occurs in UTF-8; save the file as UTF-8",
      byteOffset: 2,
    },
    {
      name: "a UTF-16LE file with its byte-order mark",
      source: Buffer.from('\uFEFF{"clusters": []}', "utf16le"),
      message:
        "JSON parse error at line 1, column 1: the file is UTF-16LE (it starts with the byte-order mark FF FE); save it as UTF-8",
      byteOffset: 0,
    },
    {
      name: "a UTF-16LE file without one",
      source: Buffer.from('{"clusters": []}', "utf16le"),
      message:
        "JSON parse error at line 1, column 1: the file is UTF-16LE (its first characters are ASCII padded with NUL bytes); save it as UTF-8",
    },
    {
      name: "a UTF-16BE file",
      source: Buffer.from('\uFEFF{"clusters": []}', "utf16le").swap16(),
      message:
        "JSON parse error at line 1, column 1: the file is UTF-16BE (it starts with the byte-order mark FE FF); save it as UTF-8",
    },
    {
      name: "a UTF-32BE file without a byte-order mark",
      source: Buffer.from([0, 0, 0, 0x5b, 0, 0, 0, 0x5d]),
      message:
        "JSON parse error at line 1, column 1: the file is UTF-32BE (its first characters are ASCII padded with NUL bytes); save it as UTF-8",
    },
    {
      name: "a UTF-32LE file with its byte-order mark",
      source: Buffer.from([0xff, 0xfe, 0, 0, 0x5b, 0, 0, 0]),
      message:
        "JSON parse error at line 1, column 1: the file is UTF-32LE (it starts with the byte-order mark FF FE 00 00); save it as UTF-8",
    },
    {
      name: "a syntax error, with JSON.parse's reason",
      source: Buffer.from('{\n  "a": 1\n  "b": 2\n}'),
      message: "JSON parse error at line 3, column 3: Expected ',' or '}' after property value",
      byteOffset: 13,
    },
  ];
  for (const { name, source, message, byteOffset } of cases) {
    it(name, () => {
      const error = refusal(source);
      expect(error.message).toBe(message);
      expect(error).toBeInstanceOf(SyntaxError);
      if (byteOffset !== undefined) expect(error.byteOffset).toBe(byteOffset);
      if (typeof source === "string") expect(error.byteOffset).toBeUndefined();
    });
  }

  it("reports the first problem in the text, whichever kind it is", () => {
    expect(refusal('{"a": 1, "a": [1,]}').reason).toMatch(/^duplicate key "a"/);
    expect(refusal('{"a": [1,], "a": 1}').reason).toBe("Unexpected token ']'");
    expect(refusal('["\\ud800", "\\u0000"]').reason).toMatch(/^lone surrogate/);
  });

  it("accepts surrogate pairs, escaped or not, and keys that differ only by escaping are the same key", () => {
    expect(parseStrictJson(Buffer.from('["\\ud83d\\ude00", "😀"]'))).toEqual(["😀", "😀"]);
    expect(refusal('{"a": 1, "\\u0061": 2}').reason).toMatch(/^duplicate key "a"/);
  });
});

/**
 * JSON.parse's value with objects rebuilt without a prototype, as parseStrictJson builds them
 * (toStrictEqual compares prototypes). `__proto__` keys stay own keys.
 */
function structuredLike(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(structuredLike);
  if (value !== null && typeof value === "object") {
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = structuredLike(v);
    return out;
  }
  return value;
}
