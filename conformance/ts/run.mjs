#!/usr/bin/env node
// The TypeScript conformance runner in plain Node ESM, over the built packages (@ldakit/npy,
// @ldakit/search and @ldakit/format dist): prints one line per case of fixtures/manifest.json and closes with
// "N passed, N failed", as the Python, Go and Rust runners do; exits 1 when anything failed.
//
//   node conformance/ts/run.mjs [--fixtures DIR] [--expected-failures FILE] [--run SUBSTRING]
//
// Build the packages first (pnpm build, or turbo run build --filter=@ldakit/conformance...).
import { parseArgs } from "node:util";
import {
  EXPECTED_FAILURES,
  FIXTURES,
  readExpectedFailures,
  readManifest,
  runCase,
  staleEntries,
  verdict,
} from "./cases.mjs";

const { values } = parseArgs({
  options: {
    fixtures: { type: "string", default: FIXTURES },
    "expected-failures": { type: "string", default: EXPECTED_FAILURES },
    run: { type: "string", default: "" },
  },
});
const fixtures = /** @type {string} */ (values.fixtures);
const manifest = readManifest(fixtures);
const expected = readExpectedFailures(values["expected-failures"]);
let passed = 0;
let failed = 0;
let xfails = 0;
for (const c of manifest.cases) {
  if (!c.name.includes(/** @type {string} */ (values.run))) continue;
  const v = verdict(c.name, await runCase(c, manifest, fixtures), expected);
  console.log(v.line);
  if (v.status === "FAIL") failed++;
  else passed++;
  if (v.status === "xfail") xfails++;
}
for (const v of staleEntries(manifest, expected)) {
  console.log(v.line);
  failed++;
}
if (xfails > 0)
  console.log(
    `(${xfails} of the passed are expected failures listed in ${values["expected-failures"]})`,
  );
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
