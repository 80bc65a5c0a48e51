#!/usr/bin/env bash
# check-contract.sh: the OpenAPI document (`/api/openapi.json`, printed by
# `cargo xtask openapi` without a server) is a contract clients can be generated
# from: it passes openapi-spec-validator, and typed clients generate from it and
# type-check:
#   - Python: openapi-python-client, then `mypy --strict` over the package and an
#     import of it;
#   - TypeScript: openapi-typescript, then `tsc --noEmit --strict` over a small
#     file that uses the generated types (tests/contract/use.ts).
# The Python tools go into .venv (infra/venv.sh), the npm ones into
# .venv/npm (both kept between runs; delete .venv to start over). About 20 s
# once installed. docs/clients.md shows the same commands for a user.
#
#   infra/check-contract.sh            # the document of this tree
#   infra/check-contract.sh FILE.json  # a document saved elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require openapi-spec-validator openapi-python-client

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
spec=$scratch/openapi.json
if [[ $# -gt 0 ]]; then
  cp "$1" "$spec"
else
  cargo xtask openapi >"$spec"
fi

echo "contract: openapi-spec-validator" >&2
python3 -m openapi_spec_validator "$spec"

echo "contract: openapi-python-client, then mypy --strict" >&2
# No post hooks: they run ruff, which the generated code does not need.
printf 'post_hooks: []\n' >"$scratch/python-client.yaml"
# Warnings (a schema the generator could not type) fail the check too.
if ! openapi-python-client generate --path "$spec" --output-path "$scratch/python" \
  --config "$scratch/python-client.yaml" --fail-on-warning >"$scratch/python.log" 2>&1; then
  cat "$scratch/python.log" >&2
  exit 1
fi
client_python="$VENV_DIR/alone/openapi-python-client/bin/python"
(
  cd "$scratch/python"
  "$client_python" -m mypy --strict --cache-dir "$scratch/mypy" chatbot_api_client
  "$client_python" -c 'import chatbot_api_client.api.chats.post_api_chats, chatbot_api_client.models'
)

echo "contract: openapi-typescript, then tsc --noEmit" >&2
npm_require openapi-typescript@7 typescript@5
npm_dir="$VENV_DIR/npm"
mkdir -p "$scratch/ts"
"$npm_dir/node_modules/.bin/openapi-typescript" "$spec" -o "$scratch/ts/api.ts" --silent
cp tests/contract/use.ts "$scratch/ts/use.ts"
"$npm_dir/node_modules/.bin/tsc" --noEmit --strict --target es2020 --moduleResolution node "$scratch/ts/use.ts"
echo "contract: the document validates; the Python and TypeScript clients generate and type-check" >&2
