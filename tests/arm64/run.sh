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
# aarch64-unknown-linux-gnu, done here when CI=true). Without them, outside CI, it
# says SKIPPED, names what is missing and exits 0; with CI=true, anything still
# missing after the install step fails the run (exit 1), whatever made the
# install fail.
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

# missing: prints what of the toolchain is not here (nothing when all is).
missing() {
  command -v qemu-aarch64-static >/dev/null || echo "qemu-aarch64-static (apt-get install qemu-user-static)"
  command -v aarch64-linux-gnu-gcc >/dev/null || echo "aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)"
  rustup target list --installed 2>/dev/null | grep -x "$TARGET" >/dev/null || echo "the $TARGET standard library (rustup target add $TARGET)"
}
if [[ -n "$(missing)" && "${CI:-}" == "true" ]]; then
  # A failed step is not the end: the check below names what is still missing
  # and fails the run.
  { apt-get update -qq && apt-get install -y -qq qemu-user-static gcc-aarch64-linux-gnu >/dev/null; } ||
    echo "arm64: apt-get could not install qemu-user-static and gcc-aarch64-linux-gnu" >&2
  rustup target add "$TARGET" || echo "arm64: rustup could not add $TARGET" >&2
fi
still_missing=$(missing)
if [[ -n "$still_missing" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    # In CI the install step above ran: a tool still missing means these tests
    # would silently not run, which must not pass.
    printf 'FAILED: the arm64 tests cannot run, still missing after the install step:\n%s\n' "$still_missing" >&2
    exit 1
  fi
  printf 'SKIPPED the arm64 tests (CI=true installs what is missing and fails without it):\n%s\n' "$still_missing" >&2
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
