#!/usr/bin/env bash
# Flan-T5 at real shapes on the README's local stack: random weights at
# flan-t5-small's shapes (`bench write small`, models/flan-t5/examples/bench.rs)
# served by infra/run-local.sh (through infra/local-api.sh) as a developer runs
# it, in the dev profile. Checks that the models listing offers the model the
# inference function loaded and that one chat answers 201 within
# FLAN_T5_CHAT_BOUND_SECS (default 45: a liveness bound under the 60 s provider
# timeout, not a speed measurement; an engine built at opt-level 0 needs minutes
# for such a reply, docs/flan-t5.md). First, without starting anything, that
# an offline first start says in one line that the weights could not be
# downloaded and remembers it (infra/flan-t5-weights.sh). Stops what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require cargo-lambda
bound=${FLAN_T5_CHAT_BOUND_SECS:-45}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
fail() {
  failed=$((failed + 1))
  echo "FAIL $*" >&2
}

# Offline: a hub address nothing listens on.
# shellcheck source=infra/flan-t5-weights.sh
. infra/flan-t5-weights.sh
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
offline() {
  XDG_CACHE_HOME="$work/cache" HF_ENDPOINT="http://127.0.0.1:$closed" flan_t5_weights google/flan-t5-base \
    >"$work/out" 2>"$work/err"
}
offline
[[ ! -s "$work/out" ]] || fail "offline: a weights folder was printed: $(cat "$work/out")"
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "offline: not one line: $(cat "$work/err")"
grep -q "could not download google/flan-t5-base.*FLAN_T5_DIR" "$work/err" || fail "offline: $(cat "$work/err")"
# The next start within the hour does not ask the hub again, and says so.
offline
[[ $(wc -l <"$work/err") -eq 1 ]] && grep -q "downloading failed 0 min ago.*FLAN_T5_DIR" "$work/err" ||
  fail "offline again: $(cat "$work/err")"
FLAN_T5_RETRY_SECS=0 offline
grep -q "could not download" "$work/err" || fail "offline after the retry time: $(cat "$work/err")"

# Random weights at flan-t5-small's shapes, served the README's way.
# Built with the workspace's features, as the test suites build the engine
# (-p flan-t5 alone would build candle once more with other features).
cargo build -q --workspace --example bench
"${CARGO_TARGET_DIR:-target}/debug/examples/bench" write small "$work/small" >/dev/null
# shellcheck source=infra/local-api.sh
. infra/local-api.sh
trap 'local_api_stop; rm -rf "$work"' EXIT
LOCAL_API_FLAN_T5_DIR="$work/small" local_api_start
base=$LOCAL_API_BASE
json=(-H 'content-type: application/json')
curl -fsS "${json[@]}" -d '{"username":"flan","password":"password123"}' "$base/api/register/" >"$work/reg"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/reg")
auth=(-H "Authorization: Token $token")

curl -fsS --max-time 60 "${auth[@]}" "$base/api/models/" >"$work/models"
python3 - "$work/models" <<'PY' || fail "models listing: $(cat "$work/models")"
import json, sys
models = {m["id"]: m for m in json.load(open(sys.argv[1]))}
small = models["flan-t5/flan-t5-small"]
assert small["available"] is True and small["reason"] is None, small
assert models["flan-t5/flan-t5-base"]["available"] is False
PY

start=$(date +%s.%N)
status=$(curl -s --max-time "$bound" -o "$work/chat" -w '%{http_code}' "${auth[@]}" "${json[@]}" \
  -d '{"content":"What is the capital of France?"}' "$base/api/chats/") || true
took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
if [[ $status == 201 ]]; then
  echo "flan-t5-local: a chat with small-shaped weights answered 201 in ${took} s (bound ${bound} s)"
else
  fail "chat: expected 201 within ${bound} s, got '$status' after ${took} s: $(head -c 400 "$work/chat")"
fi
echo "flan-t5-local: $failed failed"
[[ $failed -eq 0 ]]
