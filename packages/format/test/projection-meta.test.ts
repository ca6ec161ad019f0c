/**
 * `mh_<id>.json`: validateProjectionMeta on its own, and against docs/mh-projection.schema.json
 * through an independent JSON Schema validator (ajv, draft 2020-12) on one corpus.
 */
import Ajv2020Module from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_BLEND,
  EMBEDDING_FILE_PATTERNS,
  FormatError,
  MAX_ID,
  MODEL_NAME_PATTERN,
  modelNameProblem,
  PROJECTION_META_FORMAT,
  PROJECTION_META_FORMATS,
  projectionMetaFormatFor,
  projectionMetaProblems,
  validateProjectionMeta,
} from "../src/index.js";
import { readRepoFile } from "./helpers.js";

const GOOD = {
  format: "ldakit.mh/1",
  mh_projection_id: 2,
  model: "sentence-transformers/all-MiniLM-L6-v2",
  dimensions: 384,
  temperature: 0.1,
  num_heads: 3,
  cluster_ids: [17, 4, 9],
};

type Meta = Record<string, unknown>;
const without = (key: string): Meta => {
  const copy: Meta = { ...GOOD };
  delete copy[key];
  return copy;
};
const fromJson = (text: string): unknown => JSON.parse(text);

/** An edition-2 projection with an adapter and a blend. */
const GOOD_V2 = { ...GOOD, format: "ldakit.mh/2", adapter: "mh_2_W.npy", blend: 0.25 };
const FORMATS = '"ldakit.mh/1" or "ldakit.mh/2"';

/** Valid objects. */
const VALID: Array<[string, unknown]> = [
  ["the seven keys", GOOD],
  ["unknown keys are ignored", { ...GOOD, trained_on: "2025-01-01", extra: { nested: [1] } }],
  ["a projection without heads", { ...GOOD, num_heads: 0, cluster_ids: [] }],
  ["a model without /", { ...GOOD, model: "hash-384" }],
  ["a model with several /", { ...GOOD, model: "a.b_c/d/e" }],
  [
    "ids at 0 and at 2^53 − 1",
    { ...GOOD, mh_projection_id: 0, num_heads: 2, cluster_ids: [0, MAX_ID] },
  ],
  ["the largest id", { ...GOOD, mh_projection_id: MAX_ID, dimensions: MAX_ID }],
  ["a tiny and a huge temperature", { ...GOOD, temperature: 1e-300 }],
  ["a huge temperature", { ...GOOD, temperature: 1e300 }],
  ["edition 2 with an adapter and a blend", GOOD_V2],
  ["edition 2 with an adapter, no blend (β = 1)", { ...GOOD_V2, blend: undefined }],
  ["edition 2 with a null adapter and a blend", { ...GOOD_V2, adapter: null }],
  ["edition 2 with β = 0 (direct search)", { ...GOOD_V2, adapter: null, blend: 0 }],
  ["edition 2 with β = 1", { ...GOOD_V2, blend: 1 }],
  [
    "edition 2 without either (readers accept it; writers write edition 1)",
    { ...GOOD, format: "ldakit.mh/2" },
  ],
  ["edition 2 at projection 0", { ...GOOD_V2, mh_projection_id: 0, adapter: "mh_0_W.npy" }],
  ["edition 1 with the defaults written out", { ...GOOD, adapter: null, blend: 1 }],
  [
    "edition 1 with blend written 1.0",
    fromJson(JSON.stringify({ ...GOOD, blend: 1 }).replace('"blend":1', '"blend":1.0')),
  ],
  [
    "an integer written 2.0 in JSON",
    fromJson(JSON.stringify(GOOD).replace('"dimensions":384', '"dimensions":384.0')),
  ],
];

/** Invalid objects, each with a part of the message it must give. */
const INVALID: Array<[string, unknown, string]> = [
  ["an array", [], "expected a JSON object, got an array"],
  ["null", null, "expected a JSON object, got null"],
  ["a string", "mh", 'expected a JSON object, got the string "mh"'],
  ["a number", 3, "expected a JSON object, got the number 3"],
  ["no format", without("format"), '"format" is missing (expected "ldakit.mh/1" or "ldakit.mh/2")'],
  [
    "no mh_projection_id",
    without("mh_projection_id"),
    '"mh_projection_id" must be an integer from 0 to 9007199254740991, got undefined',
  ],
  ["no model", without("model"), '"model" must be a model name (a string), got undefined'],
  [
    "no dimensions",
    without("dimensions"),
    '"dimensions" must be a positive integer, got undefined',
  ],
  [
    "no temperature",
    without("temperature"),
    '"temperature" must be a positive finite number, got undefined',
  ],
  [
    "no num_heads",
    without("num_heads"),
    '"num_heads" must be a non-negative integer, got undefined',
  ],
  ["no cluster_ids", without("cluster_ids"), '"cluster_ids" is missing'],
  [
    "a later format",
    { ...GOOD, format: "ldakit.mh/3" },
    `"format" must be ${FORMATS}, got the string "ldakit.mh/3"`,
  ],
  ["a format number", { ...GOOD, format: 1 }, `"format" must be ${FORMATS}, got the number 1`],
  [
    "an adapter given as a path",
    { ...GOOD_V2, adapter: "embeddings/m/mh_2_W.npy" },
    '"adapter" must be the adapter\'s file name "mh_2_W.npy" in the model folder (no path, no other name), got the string "embeddings/m/mh_2_W.npy"',
  ],
  ["an adapter up the tree", { ...GOOD_V2, adapter: "../mh_2_W.npy" }, "(no path, no other name)"],
  ["an absolute adapter", { ...GOOD_V2, adapter: "/tmp/mh_2_W.npy" }, "(no path, no other name)"],
  [
    "an adapter spelled non-canonically",
    { ...GOOD_V2, adapter: "mh_02_W.npy" },
    'got the string "mh_02_W.npy"',
  ],
  ["an adapter of another kind", { ...GOOD_V2, adapter: "W_matrix.npy" }, "no other name"],
  ["an empty adapter", { ...GOOD_V2, adapter: "" }, 'got the string ""'],
  [
    "an adapter that is not a string",
    { ...GOOD_V2, adapter: 2 },
    '"adapter" must be the adapter\'s file name "mh_2_W.npy" or null, got the number 2',
  ],
  ["an adapter that is true", { ...GOOD_V2, adapter: true }, "or null, got true"],
  [
    "a negative blend",
    { ...GOOD_V2, blend: -0.01 },
    '"blend" must be a finite number from 0 to 1 (absent means 1), got the number -0.01',
  ],
  ["a blend above 1", { ...GOOD_V2, blend: 1.5 }, "got the number 1.5"],
  ["a blend as a string", { ...GOOD_V2, blend: "0.5" }, 'got the string "0.5"'],
  ["a null blend", { ...GOOD_V2, blend: null }, '"blend" must be a finite number'],
  ["a NaN blend", { ...GOOD_V2, blend: Number.NaN }, "got the number NaN"],
  [
    "a blend past the largest double",
    fromJson(JSON.stringify(GOOD_V2).replace('"blend":0.25', '"blend":1e400')),
    "got the number Infinity",
  ],
  [
    "edition 1 with an adapter",
    { ...GOOD, adapter: "mh_2_W.npy" },
    '"adapter" needs "format": "ldakit.mh/2"; an "ldakit.mh/1" reader would ignore it and rank differently',
  ],
  [
    "edition 1 with a blend other than 1",
    { ...GOOD, blend: 0.25 },
    '"blend" other than 1 needs "format": "ldakit.mh/2"',
  ],
  [
    "edition 1 with β = 0",
    { ...GOOD, adapter: null, blend: 0 },
    '"blend" other than 1 needs "format": "ldakit.mh/2"',
  ],
  ["a negative id", { ...GOOD, mh_projection_id: -1 }, '"mh_projection_id" must be an integer'],
  ["a fractional id", { ...GOOD, mh_projection_id: 1.5 }, "got the number 1.5"],
  ["an id as a string", { ...GOOD, mh_projection_id: "2" }, 'got the string "2"'],
  [
    "an id past 2^53 − 1",
    fromJson(
      JSON.stringify(GOOD).replace('"mh_projection_id":2', '"mh_projection_id":9007199254740992'),
    ),
    "got the number 9007199254740992",
  ],
  [
    "an empty model",
    { ...GOOD, model: "" },
    '"model" "" is not a valid model name: the name is empty',
  ],
  [
    "a//b",
    { ...GOOD, model: "a//b" },
    '"model" "a//b" is not a valid model name: "//" at position 2 leaves an empty part',
  ],
  ["/a", { ...GOOD, model: "/a" }, 'the name starts with "/"'],
  ["a/", { ...GOOD, model: "a/" }, 'the name ends with "/"'],
  [".", { ...GOOD, model: "." }, '"." is not a usable folder name'],
  ["..", { ...GOOD, model: ".." }, '".." is not a usable folder name'],
  ["a space", { ...GOOD, model: "bad name!" }, 'character " " (U+0020) at position 4'],
  ["unicode", { ...GOOD, model: "modèle" }, 'character "è" (U+00E8) at position 4'],
  [
    "a model number",
    { ...GOOD, model: 5 },
    '"model" must be a model name (a string), got the number 5',
  ],
  [
    "zero dimensions",
    { ...GOOD, dimensions: 0 },
    '"dimensions" must be a positive integer, got the number 0',
  ],
  ["negative dimensions", { ...GOOD, dimensions: -1 }, "got the number -1"],
  ["fractional dimensions", { ...GOOD, dimensions: 2.5 }, "got the number 2.5"],
  ["dimensions as a string", { ...GOOD, dimensions: "384" }, 'got the string "384"'],
  [
    "a zero temperature",
    { ...GOOD, temperature: 0 },
    '"temperature" must be a positive finite number, got the number 0',
  ],
  ["a negative temperature", { ...GOOD, temperature: -0.1 }, "got the number -0.1"],
  ["a temperature as a string", { ...GOOD, temperature: "0.1" }, 'got the string "0.1"'],
  ["a null temperature", { ...GOOD, temperature: null }, "got null"],
  // JSON numbers are unbounded and 1e400 > 0, but JavaScript parses it to Infinity; ajv (strict
  // numbers) refuses the non-finite value just as validateProjectionMeta does.
  [
    "a temperature past the largest double",
    fromJson(JSON.stringify(GOOD).replace('"temperature":0.1', '"temperature":1e400')),
    '"temperature" must be a positive finite number, got the number Infinity',
  ],
  [
    "negative num_heads",
    { ...GOOD, num_heads: -1 },
    '"num_heads" must be a non-negative integer, got the number -1',
  ],
  ["fractional num_heads", { ...GOOD, num_heads: 1.5 }, "got the number 1.5"],
  [
    "cluster_ids as a string",
    { ...GOOD, cluster_ids: "1,2,3" },
    '"cluster_ids" must be an array of cluster ids, got the string "1,2,3"',
  ],
  [
    "a negative cluster id",
    { ...GOOD, cluster_ids: [1, -2, 3] },
    '"cluster_ids" entries must be integers from 0 to 9007199254740991: [1] is the number -2',
  ],
  ["a fractional cluster id", { ...GOOD, cluster_ids: [1, 2, 1.5] }, "[2] is the number 1.5"],
  ["a cluster id as a string", { ...GOOD, cluster_ids: ["1", 2, 3] }, '[0] is the string "1"'],
  ["a null cluster id", { ...GOOD, cluster_ids: [1, null, 3] }, "[1] is null"],
  [
    "a cluster twice",
    { ...GOOD, cluster_ids: [4, 9, 4] },
    '"cluster_ids" lists cluster 4 more than once',
  ],
  [
    "a cluster twice and one thrice",
    { ...GOOD, num_heads: 5, cluster_ids: [4, 9, 4, 9, 9] },
    '"cluster_ids" lists clusters 4, 9 more than once',
  ],
];

/**
 * Objects the schema accepts and validateProjectionMeta refuses: the rule JSON Schema has no
 * keyword for. (Duplicate cluster ids are not among them: `uniqueItems` states that one.)
 */
const SCHEMA_CANNOT_SAY: Array<[string, unknown, string]> = [
  [
    "num_heads is not the length of cluster_ids (no keyword relates a number to an array's length)",
    { ...GOOD, num_heads: 2 },
    '"cluster_ids" lists 3 cluster ids but "num_heads" is 2',
  ],
  [
    "the adapter of another projection (no keyword relates a string to another key's value)",
    { ...GOOD_V2, adapter: "mh_3_W.npy" },
    '"adapter" names "mh_3_W.npy", the adapter of another projection; projection 2\'s is "mh_2_W.npy"',
  ],
];

const schemaText = readRepoFile("docs/mh-projection.schema.json");
const schema = JSON.parse(schemaText) as {
  $schema: string;
  required: string[];
  properties: Record<
    string,
    { pattern?: string; maximum?: number; enum?: string[]; anyOf?: Array<{ pattern?: string }> }
  >;
};
const Ajv2020 = Ajv2020Module.default;
const ajv = new Ajv2020({ allErrors: true, strict: true });
const schemaAccepts = ajv.compile(schema);

describe("validateProjectionMeta", () => {
  it("returns the object itself, typed", () => {
    const meta = { ...GOOD, extra_key: "kept" };
    expect(validateProjectionMeta(meta)).toBe(meta);
    expect(PROJECTION_META_FORMAT).toBe("ldakit.mh/1");
    expect(PROJECTION_META_FORMATS).toEqual(["ldakit.mh/1", "ldakit.mh/2"]);
    expect(DEFAULT_BLEND).toBe(1);
  });

  it("names the adapter by the projection's id, or by its pattern when the id is bad", () => {
    expect(projectionMetaProblems({ ...GOOD_V2, mh_projection_id: -1, adapter: "x" })).toContain(
      '"adapter" must be the adapter\'s file name "mh_<mh_projection_id>_W.npy" in the model folder (no path, no other name), got the string "x"',
    );
    // with the id itself broken, a well-formed adapter name is not blamed twice
    expect(
      projectionMetaProblems({ ...GOOD_V2, mh_projection_id: "2", adapter: "mh_2_W.npy" }),
    ).toEqual([
      '"mh_projection_id" must be an integer from 0 to 9007199254740991, got the string "2"',
    ]);
  });

  it.each(VALID)("accepts %s", (_, value) => {
    expect(projectionMetaProblems(value)).toEqual([]);
    expect(validateProjectionMeta(value)).toBe(value);
  });

  it.each([...INVALID, ...SCHEMA_CANNOT_SAY])("refuses %s", (_, value, message) => {
    const problems = projectionMetaProblems(value);
    expect(
      problems.some((p) => p.includes(message)),
      problems.join("\n"),
    ).toBe(true);
    let thrown: unknown;
    try {
      validateProjectionMeta(value, "embeddings/m/mh_2.json");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FormatError);
    const error = thrown as FormatError;
    expect(error.code).toBe("INVALID_PROJECTION_META");
    expect(error.value).toBe(value);
    expect(error.problems).toEqual(problems);
    expect(error.message).toBe(`embeddings/m/mh_2.json: ${problems.join("; ")}`);
  });

  it("lists every problem, in the order of the keys", () => {
    expect(
      projectionMetaProblems({
        format: "ldakit.mh/0",
        mh_projection_id: 2,
        model: "a//b",
        dimensions: 0,
        temperature: Number.NaN,
        num_heads: 3,
        cluster_ids: [1, 1, -1],
      }),
    ).toEqual([
      '"format" must be "ldakit.mh/1" or "ldakit.mh/2", got the string "ldakit.mh/0"',
      '"model" "a//b" is not a valid model name: "//" at position 2 leaves an empty part; separate parts with a single "/"',
      '"dimensions" must be a positive integer, got the number 0',
      '"temperature" must be a positive finite number, got the number NaN',
      '"cluster_ids" entries must be integers from 0 to 9007199254740991: [2] is the number -1',
      '"cluster_ids" lists cluster 1 more than once; each head has its own cluster',
    ]);
    expect(() => validateProjectionMeta([])).toThrow(
      "projection metadata: expected a JSON object, got an array",
    );
  });

  it("names at most five offending entries", () => {
    const ids = Array.from({ length: 8 }, (_, k) => -1 - k);
    const [problem] = projectionMetaProblems({ ...GOOD, num_heads: 8, cluster_ids: ids });
    expect(problem).toBe(
      '"cluster_ids" entries must be integers from 0 to 9007199254740991: [0] is the number -1, [1] is the number -2, [2] is the number -3, [3] is the number -4, [4] is the number -5, … (8 in all)',
    );
  });
});

describe("projectionMetaFormatFor", () => {
  it("is edition 2 exactly when there is an adapter or β ≠ 1", () => {
    expect(projectionMetaFormatFor({})).toBe("ldakit.mh/1");
    expect(projectionMetaFormatFor({ adapter: null, blend: 1 })).toBe("ldakit.mh/1");
    expect(projectionMetaFormatFor({ adapter: undefined, blend: undefined })).toBe("ldakit.mh/1");
    expect(projectionMetaFormatFor({ blend: null })).toBe("ldakit.mh/1");
    expect(projectionMetaFormatFor({ adapter: "mh_2_W.npy" })).toBe("ldakit.mh/2");
    expect(projectionMetaFormatFor({ adapter: new Float32Array(4), blend: 1 })).toBe("ldakit.mh/2");
    expect(projectionMetaFormatFor({ blend: 0 })).toBe("ldakit.mh/2");
    expect(projectionMetaFormatFor({ blend: 0.999 })).toBe("ldakit.mh/2");
  });

  it("gives a format under which the metadata it describes is valid, and edition 1 where it can", () => {
    for (const adapter of [undefined, null, "mh_2_W.npy"]) {
      for (const blend of [undefined, 0, 0.25, 1]) {
        const format = projectionMetaFormatFor({ adapter, blend });
        const meta = { ...GOOD, format, adapter, blend };
        expect(projectionMetaProblems(meta), JSON.stringify(meta)).toEqual([]);
        expect(schemaAccepts(JSON.parse(JSON.stringify(meta)))).toBe(true);
        // edition 1 refuses exactly what needs edition 2
        expect(projectionMetaProblems({ ...meta, format: "ldakit.mh/1" }).length === 0).toBe(
          format === "ldakit.mh/1",
        );
      }
    }
  });
});

describe("docs/mh-projection.schema.json", () => {
  it("is a draft 2020-12 schema that states the same constants as the code", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.required.sort()).toEqual(Object.keys(GOOD).sort());
    expect(schema.properties.format?.enum).toEqual([...PROJECTION_META_FORMATS]);
    expect(schema.properties.adapter?.anyOf?.[1]?.pattern).toBe(
      EMBEDDING_FILE_PATTERNS["projection-adapter"].source,
    );
    expect(schema.properties.model?.pattern).toBe(MODEL_NAME_PATTERN.source);
    for (const key of ["mh_projection_id", "dimensions", "num_heads"]) {
      expect(schema.properties[key]?.maximum, key).toBe(MAX_ID);
    }
  });

  it.each(VALID)("accepts %s, as validateProjectionMeta does", (_, value) => {
    expect(schemaAccepts(value), JSON.stringify(schemaAccepts.errors)).toBe(true);
  });

  it.each(INVALID)("refuses %s, as validateProjectionMeta does", (_, value) => {
    expect(schemaAccepts(value)).toBe(false);
  });

  it.each(SCHEMA_CANNOT_SAY)(
    "accepts, where only validateProjectionMeta refuses: %s",
    (_, value) => {
      expect(schemaAccepts(value), JSON.stringify(schemaAccepts.errors)).toBe(true);
      expect(projectionMetaProblems(value)).not.toEqual([]);
    },
  );

  it("has the model-name rule of modelNameProblem", () => {
    const names = [
      "a",
      "org/m",
      "a//b",
      "/a",
      "a/",
      ".",
      "..",
      "...",
      "../a",
      "a b",
      "modèle",
      "",
      "a__b",
    ];
    for (const model of names) {
      expect(schemaAccepts({ ...GOOD, model }), model).toBe(modelNameProblem(model) === null);
    }
  });
});
