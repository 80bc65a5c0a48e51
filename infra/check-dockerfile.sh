#!/usr/bin/env bash
# check-dockerfile.sh: runs the build steps of the inference image's Dockerfile
# (models/inference/Dockerfile, its `build` stage) here, outside Docker, since no
# Docker engine may be at hand: each RUN instruction of that stage, in order, from
# the repository root (its COPY . . makes the context the working directory), with
# bash as the stage's SHELL says. Then checks what the stage leaves in /bootstrap
# (written to a scratch file instead) is an arm64 Linux executable, and prints the
# time. `apt-get` steps are not run (they need root and change the machine): the
# packages they install must be here already, which is checked.
# A release-lto build of the engine for arm64: tens of minutes on 2 cores, so CI
# does not run it.
#
# --keep PATH: also copy the binary there (tests/arm64/run.sh invokes it).
set -euo pipefail
keep=
if [[ ${1:-} == --keep ]]; then
  keep=$(realpath -m "${2:?--keep needs a path}")
fi
cd "$(dirname "$0")/.."
dockerfile=models/inference/Dockerfile
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The RUN instructions of the `build` stage, one a line (continuations joined).
python3 - "$dockerfile" >"$scratch/steps" <<'PY'
import re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
stage, steps = None, []
for line in text.splitlines():
    line = line.strip()
    if line.startswith("FROM "):
        match = re.search(r"\bAS\s+(\S+)\s*$", line, re.I)
        stage = match.group(1) if match else None
    elif stage == "build" and line.startswith("RUN "):
        steps.append(re.sub(r"\s+", " ", line[4:]).strip())
if not steps:
    sys.exit(f"{sys.argv[1]}: no RUN step in a stage named build")
print("\n".join(steps))
PY

start=$(date +%s)
while IFS= read -r step; do
  if [[ $step == apt-get* ]]; then
    # The packages named after `install` (options and the trailing commands aside).
    packages=$(sed -E 's/.*apt-get install ([^&]*).*/\1/; s/(^| )-[^ ]*//g' <<<"$step")
    for package in $packages; do
      dpkg -s "$package" >/dev/null 2>&1 || { echo "check-dockerfile: $package is not installed here (the image's apt-get step installs it)" >&2; exit 1; }
    done
    echo "--- not run (its packages are here: $packages): $step"
    continue
  fi
  # The stage writes its binary to /bootstrap; here a scratch file stands in.
  step=${step// \/bootstrap/ $scratch\/bootstrap}
  echo "--- $step"
  bash -o pipefail -c "$step"
done <"$scratch/steps"
end=$(date +%s)

[[ -f $scratch/bootstrap ]] || { echo "check-dockerfile: the build stage left no /bootstrap" >&2; exit 1; }
# ELF, 64-bit, e_machine 183 (AArch64), e_type 2 (executable) or 3 (position-independent).
python3 - "$scratch/bootstrap" <<'PY'
import struct, sys
header = open(sys.argv[1], "rb").read(20)
assert header[:4] == b"\x7fELF" and header[4] == 2, "not a 64-bit ELF file"
kind, machine = struct.unpack("<HH", header[16:20])
assert machine == 183, f"e_machine {machine}, not AArch64 (183)"
assert kind in (2, 3), f"e_type {kind}, not an executable"
PY
echo "check-dockerfile: the build stage's steps built an arm64 bootstrap of $(stat -c %s "$scratch/bootstrap") bytes in $((end - start)) s"
if [[ -n $keep ]]; then
  cp "$scratch/bootstrap" "$keep"
fi
