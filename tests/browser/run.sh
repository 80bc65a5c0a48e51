#!/usr/bin/env bash
# The browser tests, against the real functions under `cargo lambda watch` (as
# infra/run-local.sh runs them, on a scratch store) in headless Chromium driven by
# playwright:
# - drive.py: cookie authentication (dialect E): this folder's page served from
#   another origin walks register → login → new thread → streamed reply → list →
#   rename → logout with the session cookie only;
# - chat_page.py: the web chat page the API serves at / (register, log in, a
#   streamed reply, switch model, edit and regenerate, rename, search, delete,
#   phone width, log out), leaving a screenshot in target/test-artifacts/.
# With --readme-picture it runs neither, and readme_picture.py makes the README's
# picture (docs/chat-page.png) with a scripted model instead.
# A fake Ollama server (in drive.py) is the model, so replies are known and arrive
# in timed pieces; the tiny Flan-T5 fixture is the second model.
#
# Needs Debian's chromium (installed with apt-get when missing and CI=true) and
# playwright from PyPI (installed into the project's .venv by infra/venv.sh;
# playwright's own browser download is not used). Stops what it starts.
#
# Origins: the page on http://localhost:PORT1, the API on http://localhost:PORT2 —
# cross-origin (CORS with credentials, the CSRF check) but the same site, so the
# default SameSite=Lax; Secure cookie is sent (Chromium takes Secure cookies from
# http://localhost). PAGE_HOST / API_HOST change that.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require playwright
# axe-core, the accessibility engine chat_page.py runs on each view of the page.
npm_require axe-core@4
export AXE_JS="$VENV_DIR/npm/node_modules/axe-core/axe.min.js"
PYTHON=python3
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "browser test: no Chromium at $CHROMIUM (apt-get install chromium, or CI=true to let this script do it)" >&2
    exit 1
  fi
fi

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
page_port=$(free_port)
api_port=$(free_port)
ollama_port=$(free_port)
page_host="${PAGE_HOST:-localhost}"
api_host="${API_HOST:-localhost}"
page="http://$page_host:$page_port/page.html"
api="http://$api_host:$api_port"

scratch=$(mktemp -d)
export SQLITE_PATH="$scratch/browser.sqlite3"
export DEFAULT_PROVIDER=ollama DEFAULT_MODEL=llama3 OLLAMA_HOST="http://127.0.0.1:$ollama_port"
# No Flan-T5 download: the tiny fixture is the second model of the chat page test.
export FLAN_T5_DIR="$PWD/models/flan-t5/tests/fixtures/tiny-t5"
export CORS_ALLOWED_ORIGINS="http://$page_host:$page_port"
export AUTH_RATE_LIMIT_PER_MINUTE=100
# Four replies' worth: the chat page test spends it all, then meets 402.
export INITIAL_TOKENS=400
# `run.sh --readme-picture` makes docs/chat-page.png instead of running the tests.
picture=false
if [[ "${1:-}" == "--readme-picture" ]]; then
  picture=true
  export INITIAL_TOKENS=4000
fi

PORT=$api_port infra/run-local.sh --ignore-changes >"$scratch/watch.log" 2>&1 &
watch_pid=$!
"$PYTHON" -m http.server --bind 127.0.0.1 --directory tests/browser "$page_port" >"$scratch/page.log" 2>&1 &
page_pid=$!
cleanup() {
  # cargo lambda runs each function as a child process: stop the whole group.
  pkill -TERM -P "$watch_pid" 2>/dev/null || true
  kill -TERM "$watch_pid" "$page_pid" 2>/dev/null || true
  wait "$watch_pid" "$page_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

up=false
for _ in $(seq 1 900); do
  if curl -fs --max-time 5 "http://127.0.0.1:$api_port/api/health/" >/dev/null 2>&1; then
    up=true
    break
  fi
  kill -0 "$watch_pid" 2>/dev/null || { cat "$scratch/watch.log" >&2; echo "cargo lambda watch exited" >&2; exit 1; }
  sleep 1
done
[[ $up == true ]] || { tail -50 "$scratch/watch.log" >&2; echo "the API did not start" >&2; exit 1; }

if [[ $picture == true ]]; then
  "$PYTHON" tests/browser/readme_picture.py "$api" "$ollama_port" docs/chat-page.png
  exit
fi

status=0
"$PYTHON" tests/browser/drive.py "$page" "$api" "$ollama_port" || status=$?
artifacts="${CARGO_TARGET_DIR:-$PWD/target}/test-artifacts"
"$PYTHON" tests/browser/chat_page.py "$api" "$ollama_port" "$artifacts" || status=$?
if [[ $status != 0 ]]; then
  tail -40 "$scratch/watch.log" >&2
fi
echo "browser tests took $(($(date +%s) - started)) s (page $page, API $api; screenshots in $artifacts)"
exit "$status"
