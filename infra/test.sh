#!/usr/bin/env bash
# Runs every test: the unit tests, the store contract suite, the API end to end
# (in process), the route consistency checks, and a smoke test of the real
# functions under `cargo lambda watch`. Installs what it needs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo lambda --version >/dev/null 2>&1; then
  python3 -m pip install --quiet cargo-lambda
fi
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"

tests/smoke/watch.sh

# The Rust suites run last, so their summary is the run's closing line.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
