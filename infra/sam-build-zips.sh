#!/usr/bin/env bash
# sam-build-zips.sh [sam build options…]: `sam build` of every zip function (the
# route functions, rust-cargolambda for arm64, zig linking) on a machine without
# Docker, which the inference image needs. Builds a copy of template.yaml whose
# InferenceFunction is an inline stub (so every reference to it still resolves
# and sam has nothing to build for it), then removes the copy. The output is
# .aws-sam/ as for `sam build`; deploy from a machine with Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=infra/venv.sh
. infra/venv.sh
venv_require aws-sam-cli cargo-lambda ziglang
variant=.template-zips.yaml
trap 'rm -f "$variant"' EXIT
python3 - template.yaml "$variant" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
stub = ("  InferenceFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Runtime: python3.12\n      Handler: index.handler\n      InlineCode: \"def handler(e, c): pass\"\n")
# The resource runs from its name to the next resource at the same indentation.
variant, count = re.subn(r"(?ms)^  InferenceFunction:\n.*?(?=^  \S)", stub, text)
if count != 1:
    sys.exit("template.yaml: no InferenceFunction resource to replace")
open(sys.argv[2], "w").write(variant)
PY
sam build --template-file "$variant" "$@"
