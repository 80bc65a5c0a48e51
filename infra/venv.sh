# shellcheck shell=bash
# Sourced, not run: `. infra/venv.sh; venv_require moto openai`.
#
# The Python tools the scripts use live in a project-local virtual environment,
# .venv/ at the repository root (gitignored): created with `python3 -m venv` the
# first time a tool is needed, reused after. Nothing is installed globally, so
# the scripts work where the system Python refuses global installs (PEP 668).
# venv_require puts .venv/bin first on PATH, so `python3`, `sam`, `cfn-lint` and
# `cargo lambda` then resolve there. A `cargo lambda` already on PATH is used as
# it is. Delete .venv to start over.

VENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"

# venv_spec NAME: the pip requirement for a tool, by major version.
venv_spec() {
  case $1 in
    cargo-lambda) echo 'cargo-lambda>=1.4,<2' ;;
    moto) echo 'moto[server]>=5,<6' ;;
    aws-sam-cli) echo 'aws-sam-cli>=1.100,<2' ;;
    cfn-lint) echo 'cfn-lint>=1,<2' ;;
    # The infrastructure scanner of template.yaml (.ci/run's template step).
    checkov) echo 'checkov>=3,<4' ;;
    # zig links the arm64 functions for cargo-lambda (sam build, cargo lambda build --arm64).
    ziglang) echo 'ziglang>=0.13,<1' ;;
    huggingface_hub) echo 'huggingface_hub>=0.23,<3' ;;
    openai) echo 'openai>=1.40,<4' ;;
    playwright) echo 'playwright>=1.40,<2' ;;
    schemathesis) echo 'schemathesis>=4.32,<5' ;;
    # infra/check-contract.sh: the OpenAPI document's validator and a client generator.
    openapi-spec-validator) echo 'openapi-spec-validator>=0.7,<1' ;;
    openapi-python-client) echo 'openapi-python-client>=0.24,<1' ;;
    *)
      echo "infra/venv.sh: no requirement for $1" >&2
      return 1
      ;;
  esac
}

# venv_alone NAME: the command of a tool that gets a venv of its own under
# .venv/alone/ (linked into .venv/bin), because its exact pins clash with the
# other tools: aws-sam-cli pins click below what huggingface_hub needs, and
# checkov pins its own cfn-lint, boto3 and click.
venv_alone() {
  case $1 in
    aws-sam-cli) echo sam ;;
    checkov) echo checkov ;;
    # Pins httpx, attrs and pydantic; the client it generates is type-checked in
    # its venv, which has what that client imports.
    openapi-python-client) echo openapi-python-client ;;
    *) return 1 ;;
  esac
}

# venv_alone_with NAME: what else goes into a tool's own venv beside it.
venv_alone_with() {
  case $1 in
    openapi-python-client) echo 'mypy>=1.10,<2' ;;
  esac
}

# venv_create: makes .venv with the python3 on PATH, unless it is there and works.
venv_create() {
  if [[ -x "$VENV_DIR/bin/python" ]] && "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 not found: install Python 3 with its venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
    return 1
  fi
  # A venv whose python is gone (say, made by a Python since removed) is rebuilt.
  rm -rf "$VENV_DIR"
  if ! python3 -m venv "$VENV_DIR" >/dev/null 2>&1; then
    rm -rf "$VENV_DIR"
    echo "python3 cannot create a virtual environment: install its venv module (Debian/Ubuntu: apt-get install python3-venv) and run again" >&2
    return 1
  fi
}

# venv_require NAME…: installs into .venv the tools named (see venv_spec) that
# are missing, and puts .venv/bin first on PATH. Quiet, and instant when all is
# there: .venv/.installed lists the requirements already installed.
venv_require() {
  case ":$PATH:" in
    *":$VENV_DIR/bin:"*) ;;
    *) export PATH="$VENV_DIR/bin:$PATH" ;;
  esac
  local name spec missing=()
  # A list left by a venv that no longer runs says nothing.
  if [[ -f "$VENV_DIR/.installed" ]] && ! "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
    rm -f "$VENV_DIR/.installed"
  fi
  for name in "$@"; do
    spec=$(venv_spec "$name") || return 1
    if [[ $name == cargo-lambda ]] && cargo lambda --version >/dev/null 2>&1; then
      continue
    fi
    if [[ -f "$VENV_DIR/.installed" ]] && grep -qxF -- "$spec" "$VENV_DIR/.installed"; then
      continue
    fi
    missing+=("$spec")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  venv_create || return 1
  echo "Installing ${missing[*]} into .venv (once)…" >&2
  local shared=() alone command
  for spec in "${missing[@]}"; do
    name=${spec%%[[<>=]*}
    if command=$(venv_alone "$name"); then
      alone="$VENV_DIR/alone/$name"
      rm -rf "$alone"
      "$VENV_DIR/bin/python" -m venv "$alone" &&
        # shellcheck disable=SC2046 # one requirement or none
        "$alone/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" $(venv_alone_with "$name") &&
        ln -sf "../alone/$name/bin/$command" "$VENV_DIR/bin/$command" || return 1
    else
      shared+=("$spec")
    fi
  done
  if [[ ${#shared[@]} -gt 0 ]]; then
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${shared[@]}" || return 1
  fi
  printf '%s\n' "${missing[@]}" >>"$VENV_DIR/.installed"
  # Commands looked up before .venv had them (python3 while creating it) are
  # remembered by bash at their old place: forget them.
  hash -r
}

# npm_require PACKAGE@VERSION…: npm packages into .venv/npm (kept between runs,
# gone with .venv), each installed once; their commands are in .venv/npm/node_modules/.bin.
npm_require() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: install Node.js 18 or later with npm (Debian/Ubuntu: apt-get install nodejs npm)" >&2
    return 1
  fi
  local dir="$VENV_DIR/npm" spec missing=()
  for spec in "$@"; do
    # The name is the spec without its version (a scoped @org/name keeps its @).
    [[ -f "$dir/node_modules/${spec%@*}/package.json" ]] || missing+=("$spec")
  done
  ((${#missing[@]})) || return 0
  echo "Installing ${missing[*]} into .venv/npm (once)…" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent "${missing[@]}"
}
