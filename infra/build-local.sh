#!/usr/bin/env bash
# build-local.sh [cargo options…]: everything the local stack and its test
# scripts run, built as `cargo lambda watch` builds the functions
# (infra/run-local.sh): the workspace's default members (every function and the
# inference function) with the functions' `sqlite` feature, so watch finds them
# built; then the operator command and the load driver, which open either store.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bins --features sqlite "$@"
cargo build -p chatbot-admin -p chatbot-load "$@"
