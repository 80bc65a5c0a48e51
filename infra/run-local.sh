#!/usr/bin/env bash
# Runs the whole API on this machine at http://127.0.0.1:9000 (SQLite store):
# every route's function under `cargo lambda watch`, rebuilt on change.
# Installs cargo-lambda (from PyPI, into .venv: see infra/venv.sh) when it is
# missing. Settings come from the environment or a `.env` file at the
# repository root (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require cargo-lambda

if [[ -f .env ]]; then
  set -a
  # shellcheck disable=SC1091
  source .env
  set +a
fi

export STORE="${STORE:-sqlite}"
export SQLITE_PATH="${SQLITE_PATH:-$PWD/chatbot.sqlite3}"
# The AWS SDK probes instance metadata without a region and credentials; local
# runs have neither, so give it harmless ones unless real ones are set.
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"

# Every function signs pagination cursors with the same key (one process each
# here): a random one, kept next to the SQLite file so cursors survive restarts.
if [[ -z "${CURSOR_KEY:-}" ]]; then
  key_file="${SQLITE_PATH}.cursor-key"
  if [[ ! -s "$key_file" ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key_file")
  fi
  CURSOR_KEY="$(cat "$key_file")"
  export CURSOR_KEY
fi

ADDRESS="${ADDRESS:-127.0.0.1}"
PORT="${PORT:-9000}"

# Flan-T5 runs in one process for the whole stack, as in AWS: the inference
# function, served by this same `cargo lambda watch`. The API functions Invoke
# it through watch's Lambda API (only Lambda's endpoint moves; DynamoDB's stays
# AWS_ENDPOINT_URL's), so the laptop holds one copy of the weights however many
# functions have started.
export INFERENCE_FUNCTION="${INFERENCE_FUNCTION:-flan-t5-inference}"
export AWS_ENDPOINT_URL_LAMBDA="${AWS_ENDPOINT_URL_LAMBDA:-http://$ADDRESS:$PORT}"

# Flan-T5 weights, read by the inference function only: FLAN_T5_DIR when set;
# otherwise a cache folder, downloaded from the hub on first use. Offline, the
# API still starts, says so in one line, and Flan-T5 is listed unavailable and
# answers 503 saying what to set; a failed download is retried after an hour
# (infra/flan-t5-weights.sh).
if [[ -z "${FLAN_T5_DIR:-}" && "$INFERENCE_FUNCTION" == flan-t5-inference ]]; then
  # shellcheck source=infra/flan-t5-weights.sh
  . infra/flan-t5-weights.sh
  weights=$(flan_t5_weights "${FLAN_T5_MODEL:-google/flan-t5-base}")
  if [[ -n "$weights" ]]; then
    export FLAN_T5_DIR="$weights"
  fi
fi

# candle's own spinning pool for quantized products stalls whenever a laptop's
# other work takes one of its cores; the engine spreads that work over rayon
# itself (models/flan-t5/README.md, "Threads").
export CANDLE_NUM_THREADS="${CANDLE_NUM_THREADS:-1}"

# cargo lambda watch compiles each function on its first request; build them all
# now, with the features watch uses, so the first calls answer at once.
infra/build-local.sh

echo "Serving the API at http://$ADDRESS:$PORT/api/ (store: $STORE); the chat page at http://$ADDRESS:$PORT/" >&2
# --disable-cors: the functions answer CORS themselves, as they do in AWS.
# --features sqlite: a function's SQLite store is for local runs only (in AWS it
# is built without it); DynamoDB is always in.
exec cargo lambda watch --features sqlite --disable-cors --invoke-address "$ADDRESS" --invoke-port "$PORT" "$@"
