#!/usr/bin/env bash
# Sets up a fresh machine for ldakit: pnpm, the Python references the tests compare against,
# and the workspace's dependencies (better-sqlite3 compiles from source, ~1 minute).
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION" >&2
  npm install --global "pnpm@$PNPM_VERSION" >&2
fi

# The tests read the database file with the sqlite3 shell, as a real peer, and watch the order of
# fsync, rename and commit with strace (docs/RELIABILITY.md §3).
missing=""
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v strace >/dev/null 2>&1 || missing="$missing strace"
if [ -n "$missing" ]; then
  echo "setup: installing$missing (Debian packages)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # shellcheck disable=SC2086
  $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq $missing >&2
fi

echo "setup: installing the Python reference packages (tools/requirements*.txt)" >&2
for req in tools/requirements*.txt; do
  python3 -m pip install --quiet --disable-pip-version-check -r "$req" >&2
done

echo "setup: installing the workspace" >&2
# strict-dep-builds turns a silently skipped native build (better-sqlite3) into an error.
pnpm install --frozen-lockfile --config.strict-dep-builds=true >&2

echo "setup: building the packages" >&2
TURBO_TELEMETRY_DISABLED=1 pnpm build --output-logs=errors-only >&2
