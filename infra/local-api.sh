# shellcheck shell=bash
# Sourced, not run: `. infra/local-api.sh; local_api_start`. Starts the whole API
# under `cargo lambda watch` (infra/run-local.sh) on a free loopback port and a
# scratch SQLite file (or, with STORE=dynamodb, the table TABLE_NAME on
# AWS_ENDPOINT_URL), with the tiny fixture Flan-T5 as the model, and waits until it
# answers. Sets LOCAL_API_BASE (the base URL) and LOCAL_API_SCRATCH (a scratch
# folder, removed by local_api_stop); the caller traps local_api_stop on EXIT.
# Used by the smoke test (tests/smoke/watch.sh) and the fuzz run (infra/fuzz-api.sh).

# local_api_start: starts the stack and returns once /api/health/ answers, or
# prints the log and fails (watch exited, or nothing answered in 15 minutes: the
# first request may wait for a cold build).
local_api_start() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  LOCAL_API_SCRATCH=$(mktemp -d)
  local_api_log="$LOCAL_API_SCRATCH/watch.log"
  export SQLITE_PATH="$LOCAL_API_SCRATCH/local.sqlite3"
  # Flan-T5 runs in its own function, as in AWS: the API functions Invoke it
  # through cargo lambda watch's Lambda API. The tiny fixture model stands in for
  # real weights: its replies are fast and deterministic.
  export INFERENCE_FUNCTION=flan-t5-inference
  # LOCAL_API_FLAN_T5_DIR: other small-shaped weights instead (tests/smoke/flan-t5-local.sh).
  export FLAN_T5_DIR="${LOCAL_API_FLAN_T5_DIR:-$PWD/models/flan-t5/tests/fixtures/tiny-t5}"
  export FLAN_T5_MODEL=google/flan-t5-small DEFAULT_MODEL=flan-t5-small
  export AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:$port"
  PORT=$port infra/run-local.sh --ignore-changes >"$local_api_log" 2>&1 &
  local_api_pid=$!
  LOCAL_API_BASE="http://127.0.0.1:$port"
  local _
  for _ in $(seq 1 900); do
    if curl -fs --max-time 5 "$LOCAL_API_BASE/api/health/" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$local_api_pid" 2>/dev/null; then
      cat "$local_api_log" >&2
      echo "cargo lambda watch exited" >&2
      return 1
    fi
    sleep 1
  done
  tail -50 "$local_api_log" >&2
  echo "the API did not answer on $LOCAL_API_BASE within 15 minutes" >&2
  return 1
}

# local_api_stop: stops what local_api_start started and removes its scratch folder.
local_api_stop() {
  if [[ -n "${local_api_pid:-}" ]]; then
    # cargo lambda runs each function as a child process: stop them, then watch.
    pkill -TERM -P "$local_api_pid" 2>/dev/null || true
    kill -TERM "$local_api_pid" 2>/dev/null || true
    wait "$local_api_pid" 2>/dev/null || true
    local_api_pid=
  fi
  [[ -n "${LOCAL_API_SCRATCH:-}" ]] && rm -rf "$LOCAL_API_SCRATCH"
  return 0
}
