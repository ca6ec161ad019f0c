import { modelNameProblem } from "@ldakit/format";
import { describe, expect, it } from "vitest";
import { modelNameSchema, temperatureSchema } from "../src/index.js";

describe("config schemas", () => {
  it("model name: the rule of @ldakit/format, as a zod schema", () => {
    expect(modelNameSchema.safeParse("org/model").success).toBe(true);
    const result = modelNameSchema.safeParse("bad name");
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/^invalid model name: character " "/);
    for (const name of ["a//b", "/a", "a/", ".", "..", "", "modèle", "org/m", "../a", "a__b"]) {
      const parsed = modelNameSchema.safeParse(name);
      expect(parsed.success, name).toBe(modelNameProblem(name) === null);
      if (!parsed.success) {
        expect(parsed.error.issues[0]?.message).toBe(
          `invalid model name: ${modelNameProblem(name)}`,
        );
      }
    }
    expect(modelNameSchema.safeParse(42).success).toBe(false);
  });

  it("temperature: a positive number (also from a string) or auto", () => {
    expect(temperatureSchema.parse("auto")).toBe("auto");
    expect(temperatureSchema.parse("0.1")).toBe(0.1);
    expect(temperatureSchema.parse(1)).toBe(1);
    for (const bad of ["0", "-1", "abc", "", "Infinity"]) {
      expect(temperatureSchema.safeParse(bad).success, bad).toBe(false);
    }
  });
});
