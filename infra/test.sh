#!/usr/bin/env bash
# Runs every test: the unit tests, the store contract suite (SQLite and DynamoDB),
# the API end to end (in process, on each store), the route consistency checks,
# a smoke test of the real functions under `cargo lambda watch` and a
# schemathesis fuzz run over the OpenAPI document (on each store). DynamoDB and
# Secrets Manager are a local moto server. Installs the Python tools it needs
# into .venv when missing (see infra/venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=infra/venv.sh
. infra/venv.sh
# openai: the smoke test's OpenAI client. From here on python3 is .venv's.
venv_require cargo-lambda moto openai
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"

# A local DynamoDB and Secrets Manager (moto) on a free loopback port, for the
# DynamoDB store's suites; stopped when this script exits.
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
# One request at a time: see infra/moto_server.py.
python3 infra/moto_server.py 127.0.0.1 "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
stop_moto() {
  kill -TERM "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$moto_log"
}
trap stop_moto EXIT
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 && break
  kill -0 "$moto_pid" 2>/dev/null || { cat "$moto_log" >&2; echo "moto did not start" >&2; exit 1; }
  sleep 0.2
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
# moto serves one request at a time: under the load test's concurrency on a busy
# machine a request can wait seconds, which DynamoDB's 5 s default would call an
# outage (503). The fault suite sets the default itself.
export DYNAMODB_TIMEOUT_MS=60000

# Each step's start, with the seconds since this script began: where CI's time goes.
step() { echo "--- [${SECONDS}s] $*"; }

# Build every function first: cargo lambda watch compiles lazily, and a cold
# build of the whole workspace takes longer than a smoke test should wait.
step "build the functions"
infra/build-local.sh

step "smoke: SQLite"
tests/smoke/watch.sh
# The same smoke test on DynamoDB: the functions create the table on start.
step "smoke: DynamoDB"
STORE=dynamodb TABLE_NAME="chatbot-smoke-$$" tests/smoke/watch.sh
# Flan-T5 with random weights at flan-t5-small's shapes on the README's stack
# (infra/run-local.sh, dev profile): one chat answered within a liveness bound,
# and the offline first start's one-line message.
step "Flan-T5 on the local stack"
tests/smoke/flan-t5-local.sh
# Schemathesis over every operation of the OpenAPI document, on SQLite then on
# DynamoDB (moto), 50 examples per operation from a fixed seed: 3-4 minutes
# for both on 2 cores (infra/fuzz-api.sh).
step "fuzz"
infra/fuzz-api.sh
# A short bounded load test on each store (infra/load.sh; the full run is in
# BENCHMARKS.md): many users' mixed traffic, then the exact accounting of their
# messages and balances. About 15 s on SQLite and 30 s on moto (fewer requests:
# moto serves one at a time) here.
step "load"
infra/load.sh --users 8 --requests 300 --seconds 120
STORE=dynamodb infra/load.sh --users 8 --requests 200 --seconds 120
# The browser tests (headless Chromium), when there is one or CI may install it;
# said out loud when skipped: cookie authentication, and the web chat page at /
# (about a minute together once the functions are built).
step "browser"
if [[ -x /usr/bin/chromium || "${CI:-}" == "true" ]]; then
  tests/browser/run.sh
else
  echo "SKIPPED the browser tests: no /usr/bin/chromium (apt-get install chromium; CI installs it)" >&2
fi

# Flan-T5 and the inference function on arm64 under qemu (skips without the tools outside CI).
step "arm64"
tests/arm64/run.sh

# The API suites once more with the DynamoDB store (a fresh table per test app),
# then every suite. The full run goes last, so its summary is the run's closing
# line; a failure of the first still fails the script.
step "the API suites on DynamoDB, then every suite"
status=0
if cargo nextest --version >/dev/null 2>&1; then
  TEST_STORE=dynamodb cargo nextest run -p chatbot-tests -E 'binary(/^(api_|surface_|cookie_)/)' --no-fail-fast || status=$?
  cargo nextest run --workspace --no-fail-fast || status=$?
else
  TEST_STORE=dynamodb cargo test -p chatbot-tests --test 'api_*' --test 'surface_*' --test 'cookie_*' --no-fail-fast || status=$?
  cargo test --workspace --no-fail-fast || status=$?
fi
step "done"
exit "$status"
