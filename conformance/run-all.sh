#!/usr/bin/env bash
# Runs the TypeScript, Python (NumPy), Go and Rust conformance runners against
# fixtures/manifest.json, then upstream's Python reader (UnifyWeaver's LDAProjectionDB, as
# conformance/python/upstream.py reproduces it) against a store built by the ldakit CLI, and
# exits non-zero if any of them fails. Fetches the Go modules and Rust crates it needs itself.
# The TypeScript runner (conformance/ts/run.mjs) and the upstream check use the built packages:
# `pnpm conformance` builds them first (or run `pnpm build`).
#
#   bash conformance/run-all.sh
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

ok=0
bad=0
failed_runners=()

run() {
  local name=$1
  shift
  echo "== $name: $*"
  if "$@"; then
    ok=$((ok + 1))
  else
    bad=$((bad + 1))
    failed_runners+=("$name")
    echo "== $name FAILED"
  fi
}

ts_runner() {
  local root
  root="$(cd "$here/.." && pwd)"
  for pkg in npy search; do
    if [ ! -f "$root/packages/$pkg/dist/index.js" ]; then
      echo "packages/$pkg is not built: run pnpm conformance, or pnpm build first" >&2
      return 1
    fi
  done
  node "$here/ts/run.mjs"
}

python_runner() {
  if ! python3 -c "import numpy" 2>/dev/null; then
    echo "NumPy is missing: python3 -m pip install -r tools/requirements.txt (or bash scripts/setup.sh)" >&2
    return 1
  fi
  python3 "$here/python/run.py"
}

python_upstream_runner() {
  if ! python3 -c "import numpy" 2>/dev/null; then
    echo "NumPy is missing: python3 -m pip install -r tools/requirements.txt (or bash scripts/setup.sh)" >&2
    return 1
  fi
  if [ ! -f "$here/../packages/cli/dist/main.js" ]; then
    echo "packages/cli is not built: run pnpm conformance, or pnpm build first" >&2
    return 1
  fi
  python3 "$here/python/upstream.py"
}

go_runner() {
  # go.sum pins the test-only module (github.com/sbinet/npyio); the runner itself needs none.
  (cd "$here/go" && go mod download && go run ./cmd/conformance)
}

rust_runner() {
  # --locked: Cargo.lock is committed; the runner binary has no dependencies.
  (cd "$here/rust" && cargo run --quiet --release --locked --bin conformance)
}

run ts ts_runner
run python python_runner
run python-upstream python_upstream_runner
run go go_runner
run rust rust_runner

if [ "$bad" -ne 0 ]; then
  echo "failed: ${failed_runners[*]}"
fi
echo "runners: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
