#!/usr/bin/env bash
# Fuzzes the whole HTTP API from its OpenAPI document: schemathesis (in .venv)
# against the real functions under `cargo lambda watch` (infra/local-api.sh), on
# SQLite, then on DynamoDB when AWS_ENDPOINT_URL names a local one (infra/test.sh
# runs moto). Each operation gets FUZZ_EXAMPLES generated requests (default 50,
# valid and invalid ones) from the fixed seed FUZZ_SEED, so a run is repeatable,
# and every answer must: not be a 5xx, use a status the document lists for the
# operation, match the documented schema and content type, and come within
# FUZZ_REQUEST_TIMEOUT seconds (no hangs). And the document must say what the
# server checks: a request it allows is not refused 400 (positive_data_acceptance),
# one it forbids is refused (negative_data_rejection); infra/fuzz_hooks.py names
# the few 400s a schema cannot rule out (an opaque cursor, the deployment's
# models, a taken name), and counts them. Model routes answer with the tiny
# fixture Flan-T5 (fast and deterministic), whose every 5xx fails the run;
# OpenAI and Gemini have no key and Ollama no server, so their documented 503 is
# expected, and only for requests that ask for them (infra/fuzz_hooks.py says
# what is set aside and how a request's provider is told).
# About 1.5 minutes per store on 2 cores once the functions are built.
#
# Schemathesis' examples and fuzzing phases run; its coverage phase is left out:
# it tries every value of every enum on every operation (ten minutes per store
# while `tz` listed ~600 zones; not measured since the zone became a string).
#
#   infra/fuzz-api.sh                      # both stores (DynamoDB only with AWS_ENDPOINT_URL)
#   FUZZ_EXAMPLES=200 infra/fuzz-api.sh    # a longer run
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require cargo-lambda schemathesis
# shellcheck source=infra/local-api.sh
. infra/local-api.sh
trap local_api_stop EXIT

examples="${FUZZ_EXAMPLES:-50}"
seed="${FUZZ_SEED:-20261130}"
request_timeout="${FUZZ_REQUEST_TIMEOUT:-30}"
checks="${FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection}"
# More schemathesis options, for a targeted run while working on one route, e.g.
# FUZZ_ARGS='--include-path-regex ^/api/me' (split on spaces).
read -r -a extra <<<"${FUZZ_ARGS:-}"

# Generated requests come fast: the limits would answer most of them 429 (a
# documented answer, but one that hides the route behind it).
export RATE_LIMIT_PER_MINUTE=100000 AUTH_RATE_LIMIT_PER_MINUTE=100000 WRITE_RATE_LIMIT_PER_MINUTE=100000 INITIAL_TOKENS=100000000

# fuzz_store LABEL: one schemathesis run against a freshly started stack.
fuzz_store() {
  local label=$1
  echo "fuzz ($label): starting the API…" >&2
  local_api_start
  local base=$LOCAL_API_BASE
  # The store the functions really use, as they report it.
  local store
  store=$(curl -fs --max-time 60 "$base/api/health/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"])')
  if [[ $store != "$label" ]]; then
    echo "fuzz: the API runs on $store, not $label" >&2
    return 1
  fi
  # watch builds each function on its first request (`cargo run --bin NAME`):
  # with nothing built yet that can take minutes, and would read as a hang. One request per
  # operation first, with time to spare, so every function is built and running.
  # The document is kept for schemathesis, which then reads it from the file: a
  # second download once met a 500 from watch itself (the function had logged 200).
  local spec="$LOCAL_API_SCRATCH/openapi.json"
  python3 - "$base" "$spec" <<'PY'
import json, subprocess, sys, urllib.request
base, spec = sys.argv[1], sys.argv[2]
for attempt in range(60):
    try:
        doc = json.load(urllib.request.urlopen(base + "/api/openapi.json", timeout=600))
        break
    except Exception:
        subprocess.run(["sleep", "1"])
else:
    sys.exit("fuzz: the OpenAPI document did not load")
with open(spec, "w") as out:
    json.dump(doc, out)
for path, item in doc["paths"].items():
    for method in item:
        url = base + path.replace("{", "").replace("}", "")
        subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "600", "-X", method.upper(), url])
PY
  local token
  token=$(curl -fs --max-time 60 -H 'content-type: application/json' \
    -d '{"username":"fuzzer","password":"password123"}' "$base/api/register/" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # The models this run cannot reach, as the API lists them: the hooks set aside
  # their 503 and nothing else of a model (infra/fuzz_hooks.py). The model the run
  # serves must be available, or the model routes would only be fuzzed up to a 503.
  local models="$LOCAL_API_SCRATCH/models.json"
  curl -fs --max-time 60 -H "Authorization: Token $token" "$base/api/models/" >"$models"
  python3 - "$models" <<'PY'
import json, sys
models = json.load(open(sys.argv[1]))
served = [m["id"] for m in models if m["default"] and m["available"]]
if not served:
    sys.exit("fuzz: the default model is not available: " + json.dumps(models))
unreachable = ", ".join(m["id"] for m in models if not m["available"])
print(f"fuzz: serving {served[0]}; a 503 provider_unavailable is expected only from: {unreachable}", file=sys.stderr)
PY
  # Every operation runs as this user, except those that would end the session
  # for all that follow (log out, delete the account): the in-process suites
  # cover them.
  if ! FUZZ_MODELS="$models" FUZZ_SPEC="$spec" SCHEMATHESIS_HOOKS="$PWD/infra/fuzz_hooks.py" schemathesis \
    --config-file infra/schemathesis.toml run "$spec" \
    --url "$base" \
    --header "Authorization: Token $token" \
    --checks "$checks" \
    --max-examples "$examples" \
    --seed "$seed" \
    --phases examples,fuzzing \
    --workers 1 \
    --request-timeout "$request_timeout" \
    --max-response-time "$request_timeout" \
    --exclude-name 'POST /api/logout/' \
    --exclude-name 'POST /auth/logout/' \
    --exclude-name 'DELETE /api/me/' \
    --exclude-name 'DELETE /auth/delete/' \
    --suppress-health-check all \
    --generation-database none \
    --no-color \
    "${extra[@]}"; then
    # The functions' own view of what went wrong (watch's log is removed on
    # exit): all but the per-request lines, then the last requests.
    grep -v '"level":"INFO"' "$local_api_log" | tail -80 >&2
    tail -20 "$local_api_log" >&2
    return 1
  fi
  local_api_stop
}

fuzz_store sqlite
if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
  # The functions create the table on start.
  STORE=dynamodb TABLE_NAME="chatbot-fuzz-$$" fuzz_store dynamodb
else
  echo "SKIPPED the DynamoDB fuzz run: no AWS_ENDPOINT_URL (infra/test.sh starts moto)" >&2
fi
