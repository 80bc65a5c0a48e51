#!/usr/bin/env bash
# load.sh [chatbot-load options…]: a bounded load test of the real functions
# under `cargo lambda watch` on loopback (as tests/smoke/watch.sh starts them, on
# a scratch SQLite file, or with STORE=dynamodb on a table of its own in moto),
# driven by tests/load (chatbot-load): each user several requests in flight at
# once, balances drained until charges are refused (402), some replies failing
# after their charge (refunded). It then checks the accounting through the API
# and in the store: every accepted message stored exactly once and in order,
# every balance its start less one charge per stored reply, no status a request
# may not answer. The stack's model is a fake Ollama served by chatbot-load; rate
# limits are lifted so every request reaches its route. Defaults: 20 users, 3 in
# flight each, 2000 requests, at most 300 s (see the usage in
# tests/load/src/options.rs). INITIAL_TOKENS defaults to what lets a user pay for
# replies to two fifths of its requests, so balances run out during the run.
# With STORE=dynamodb and no AWS_ENDPOINT_URL, starts a moto server of its own.
# Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require cargo-lambda
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export STORE="${STORE:-sqlite}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
scratch=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    # cargo lambda runs each function as a child process: stop those first.
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

if [[ $STORE == dynamodb && -z ${AWS_ENDPOINT_URL:-} ]]; then
  venv_require moto
  moto_port=$(free_port)
  python3 infra/moto_server.py 127.0.0.1 "$moto_port" >"$scratch/moto.log" 2>&1 &
  pids+=($!)
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  # moto imports slowly on a busy machine: wait up to 2 minutes, and say so if not up.
  moto_up=false
  for _ in $(seq 1 600); do
    curl -fs "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && { moto_up=true; break; }
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  [[ $moto_up == true ]] || { cat "$scratch/moto.log" >&2; echo "load: moto did not start" >&2; exit 1; }
fi

# Everything built before the clock starts (watch would build lazily).
infra/build-local.sh -q

port=$(free_port)
ollama_port=$(free_port)
export SQLITE_PATH="$scratch/load.sqlite3" TABLE_NAME="chatbot-load-$$"
export OLLAMA_HOST="http://127.0.0.1:$ollama_port"
export RATE_LIMIT_PER_MINUTE=1000000 AUTH_RATE_LIMIT_PER_MINUTE=1000000 WRITE_RATE_LIMIT_PER_MINUTE=1000000
# Balances that run out mid-run: replies for two fifths of each user's share of
# the requests (at least 3), unless INITIAL_TOKENS is set.
users=20 requests=2000
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
  case ${args[i]} in
    --users) users=${args[i + 1]} ;;
    --requests) requests=${args[i + 1]} ;;
  esac
done
export TOKENS_PER_REQUEST="${TOKENS_PER_REQUEST:-100}"
replies=$((2 * requests / (users > 0 ? users : 1) / 5))
export INITIAL_TOKENS="${INITIAL_TOKENS:-$((TOKENS_PER_REQUEST * (replies > 3 ? replies : 3)))}"
# Flan-T5 is not used; the tiny fixture keeps run-local.sh from downloading weights.
export FLAN_T5_DIR="$PWD/models/flan-t5/tests/fixtures/tiny-t5" FLAN_T5_MODEL=google/flan-t5-small
export RUST_LOG="${RUST_LOG:-warn}"
PORT=$port infra/run-local.sh --ignore-changes >"$scratch/watch.log" 2>&1 &
watch_pid=$!
pids=("$watch_pid" "${pids[@]}")
base="http://127.0.0.1:$port"
up=false
for _ in $(seq 1 300); do
  curl -fs --max-time 5 "$base/api/health/" >/dev/null 2>&1 && { up=true; break; }
  kill -0 "$watch_pid" 2>/dev/null || { tail -50 "$scratch/watch.log" >&2; echo "load: cargo lambda watch exited" >&2; exit 1; }
  sleep 1
done
[[ $up == true ]] || { tail -50 "$scratch/watch.log" >&2; echo "load: the API did not answer on $base within 5 minutes" >&2; exit 1; }

echo "load: STORE=$STORE, the API at $base, the fake Ollama at $OLLAMA_HOST, INITIAL_TOKENS=$INITIAL_TOKENS"
status=0
# chatbot-load reads the store the same settings name, after the run.
"${CARGO_TARGET_DIR:-target}/debug/chatbot-load" --base "$base" --ollama-port "$ollama_port" \
  --tokens-per-request "$TOKENS_PER_REQUEST" "$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "load: the stack's log ends:" >&2
  tail -30 "$scratch/watch.log" >&2
fi
exit "$status"
