#!/usr/bin/env bash
# fetch-weights.sh CHECKPOINT DIR: downloads a Flan-T5 checkpoint's config.json,
# tokenizer.json and model.safetensors from the Hugging Face hub into DIR.
# Used by run-local.sh on first use; never by a Lambda function at cold start
# (the inference image has its weights baked in).
# huggingface_hub is installed into .venv (see infra/venv.sh).
set -euo pipefail
checkpoint=$1
dir=$2
# shellcheck source=infra/venv.sh
. "$(dirname "$0")/venv.sh"
venv_require huggingface_hub
mkdir -p "$dir"
timeout 1800 python3 - "$checkpoint" "$dir" <<'PY'
import sys
from huggingface_hub import hf_hub_download

checkpoint, target = sys.argv[1], sys.argv[2]
for name in ("config.json", "tokenizer.json", "model.safetensors"):
    hf_hub_download(checkpoint, name, local_dir=target)
PY
