/**
 * Which machine a process runs on, as owner tokens and temporary file names record it. A process
 * id means something only where it was issued: on the same kernel, since the same boot, in the
 * same pid namespace. Host names do not say that — containers on different machines often share
 * one, and a pid seen after a reboot is another process — so the id is a hash of
 * `/etc/machine-id`, the kernel's boot id and this process's pid namespace, after the host name
 * (kept for people reading `claimed_by`). Where none of those files can be read, the host name
 * alone is the id, as before.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { StoreError } from "./errors.js";

/** Overrides the machine id (tests use it to make a worker look like one of another machine). */
export const MACHINE_ID_ENV = "LDAKIT_MACHINE_ID";

const OVERRIDE = /^[A-Za-z0-9._/~+-]{1,128}$/;

function readOrEmpty(read: () => string): string {
  try {
    return read().trim();
  } catch {
    return "";
  }
}

let detected: string | undefined;

function detectMachineId(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, "_") || "host";
  const sources = [
    readOrEmpty(() => readFileSync("/etc/machine-id", "utf8")),
    readOrEmpty(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8")),
    readOrEmpty(() => readlinkSync("/proc/self/ns/pid")),
  ];
  if (sources.every((s) => s === "")) return host;
  const hash = createHash("sha256").update(sources.join("\n")).digest("hex").slice(0, 12);
  return `${host}/${hash}`;
}

/**
 * This machine's id: `LDAKIT_MACHINE_ID` when set, else `<host name>/<12 hex digits>` (see the
 * module comment). A value of the variable that could not stand in an owner token is refused.
 */
export function machineId(): string {
  const override = process.env[MACHINE_ID_ENV];
  if (override !== undefined && override !== "") {
    if (!OVERRIDE.test(override)) {
      throw new StoreError(
        "BAD_ARGUMENT",
        `${MACHINE_ID_ENV} must be 1 to 128 letters, digits or . _ / ~ + -, not ${JSON.stringify(override)}`,
      );
    }
    return override;
  }
  detected ??= detectMachineId();
  return detected;
}

/**
 * The machine id as it goes into temporary file names (`.<name>.<pid>.<tag>-<random>.tmp`):
 * 16 hex digits of its hash, since a file name cannot hold every character an id may have.
 */
export function machineTag(id = machineId()): string {
  return createHash("sha256").update(id).digest("hex").slice(0, 16);
}

/**
 * A temporary name beside `path` for a file written and then renamed into place, in the grammar
 * of `@ldakit/npy`'s writer: `.<name>.<pid>.<machine tag>-<random>.tmp`.
 */
export function temporaryPathOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.${process.pid}.${machineTag()}-${randomBytes(6).toString("hex")}.tmp`;
}
