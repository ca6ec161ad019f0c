import { getTf, type TfCore } from "@ldakit/tf";
import { describe } from "vitest";
import { availableTfBackends, requiredTfBackends } from "../../../tools/tf-backends.mjs";

// vitest.config.ts runs the NumPy-agreement files once per backend (its projects set
// LDAKIT_TF_BACKEND), since getTf decides once per thread and auto would pick tensorflow alone
// wherever the addon is installed.
const request = (process.env.LDAKIT_TF_BACKEND ?? "auto").trim().toLowerCase();
const name = request === "node" || request === "tfjs-node" ? "tensorflow" : request;

async function skipReason(): Promise<string | null> {
  if (name !== "tensorflow") return null;
  const [probe] = await availableTfBackends(["tensorflow"]);
  if (probe?.available || requiredTfBackends().includes("tensorflow")) return null;
  return `the tensorflow backend (tfjs-node) does not load here: ${probe?.reason}; \`ldakit backend install tensorflow\` installs it, LDAKIT_REQUIRE_TF_BACKENDS=tensorflow makes this a failure`;
}

const reason = await skipReason();
if (reason !== null) console.warn(`skipped: ${reason}`);

/** The backend these tests run on, as LDAKIT_TF_BACKEND asks (`auto` when unset). */
export const backendUnderTest = name;

/**
 * A describe block for one backend: titled with it, and skipped, with the reason in its title,
 * when that backend does not load here and LDAKIT_REQUIRE_TF_BACKENDS does not name it.
 */
export function describeOnBackend(title: string, body: () => void): void {
  const label = reason === null ? `${title} [${name}]` : `${title} [${name}: skipped, ${reason}]`;
  describe.skipIf(reason !== null)(label, body);
}

/** getTf() for the backend under test; fails when another one was chosen. */
export async function tfUnderTest(): Promise<TfCore> {
  const runtime = await getTf();
  if (name !== "auto" && runtime.backend !== name)
    throw new Error(`asked for TensorFlow.js backend ${name}, got ${runtime.backend}`);
  return runtime.tf;
}
