#!/usr/bin/env bash
# The Flan-T5 engine and the inference function on arm64 (production runs on
# Graviton), from an x86-64 machine under qemu user-mode emulation:
# 1. every flan-t5 test for aarch64-unknown-linux-gnu, the golden parity test
#    against transformers and the element-wise kernels' checks against their
#    scalar references included (cargo runs each test binary under qemu);
# 2. the function's arm64 release binary, built by its Dockerfile's own build
#    steps (infra/check-dockerfile.sh), invoked under qemu through a local Lambda Runtime API
#    with the tiny model (tests/arm64/invoke.py): its reply must be exactly the
#    engine's own (the `bench reply` example, also arm64 under qemu).
#
# Needs qemu-user-static and gcc-aarch64-linux-gnu (Debian; installed with apt-get
# when missing and CI=true) and the target's standard library (rustup target add
# aarch64-unknown-linux-gnu, done here when rustup is there). Without them, and
# outside CI, it says SKIPPED and exits 0; in CI a missing tool is a failure.
#
# Cost from scratch, measured on 2 vCPUs shared with other builds (load 8-10): the
# arm64 test build 5 min of CPU (14 min wall there), the tests under qemu 31 s,
# the release-lto build of the function 8 min of CPU (12.8 min wall there); on
# two dedicated cores that is about 8-10 min of wall time. Once built: 45 s.
# Build output goes to CARGO_TARGET_DIR (or target/) under aarch64-unknown-linux-gnu/.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

missing() {
  ! command -v qemu-aarch64-static >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
    || ! rustup target list --installed 2>/dev/null | grep -x "$TARGET" >/dev/null
}
if missing && [[ "${CI:-}" == "true" ]]; then
  apt-get update -qq && apt-get install -y -qq qemu-user-static gcc-aarch64-linux-gnu >/dev/null
  rustup target add "$TARGET"
fi
if missing; then
  echo "SKIPPED the arm64 tests: needs qemu-user-static, gcc-aarch64-linux-gnu (apt-get) and" \
    "rustup target add $TARGET (CI=true installs them)" >&2
  exit 0
fi

# Cross-linking with Debian's cross gcc, C dependencies compiled by it too, and
# every aarch64 executable cargo runs (the test binaries) run under qemu.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L $SYSROOT"
target_dir="${CARGO_TARGET_DIR:-target}/$TARGET"

echo "--- arm64: flan-t5 tests under qemu"
cargo test --locked -p flan-t5 --target "$TARGET"

echo "--- arm64: the inference function, built by its Dockerfile's own build steps"
# infra/check-dockerfile.sh runs the RUN steps of the image's build stage here
# (cargo lambda build --profile release-lto --arm64, zig linking) and checks the
# result is an arm64 executable; qemu-aarch64 runs nothing else, either.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
infra/check-dockerfile.sh --keep "$scratch/bootstrap"
binary="$scratch/bootstrap"

echo "--- arm64: the function binary through a local Lambda Runtime API"
model=models/flan-t5/tests/fixtures/tiny-t5
message="Please explain how rain forms in the sky."
max_new_tokens=24
# The engine's own reply, from the example `cargo test` built for arm64.
expected=$(qemu-aarch64-static -L "$SYSROOT" "$target_dir/debug/examples/bench" \
  reply "$model" "$message" --max-new-tokens "$max_new_tokens")
python3 tests/arm64/invoke.py --binary "$binary" --model-dir "$model" --expected "$expected" \
  --message "$message" --max-new-tokens "$max_new_tokens" --launcher "qemu-aarch64-static -L $SYSROOT"

echo "arm64 tests passed in $(($(date +%s) - started)) s"
