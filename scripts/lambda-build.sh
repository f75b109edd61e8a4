#!/usr/bin/env bash
# Builds every Lambda function in functions/ for provided.al2023 with cargo lambda and packages
# each as target/lambda/<function>/bootstrap.zip, the artifacts infra/serverless-async-separate.yml
# deploys. Idempotent: installs cargo-lambda and zig (from PyPI) only when they are missing.
#
#   scripts/lambda-build.sh                     # all functions, x86_64
#   scripts/lambda-build.sh --arm64             # Graviton (set provider.architecture: arm64 too)
#   scripts/lambda-build.sh api-processor ws-connect   # some functions only
#
# Options starting with '-' are passed to `cargo lambda build` as they are.
#
# A function is a directory functions/<name>/ with a Cargo.toml (a workspace member) whose binary
# is called <name> (package name or [[bin]] name). Compiled code goes to the shared
# CARGO_TARGET_DIR (scripts/lib.sh: ~/.cache/amplify-rag-async/target); only the zips land in the
# repository's target/lambda (git-ignored), because `--lambda-dir` is given explicitly: without it
# cargo lambda would put them under $CARGO_TARGET_DIR/lambda.
#
# Toolchain, all from package registries:
#   cargo-lambda  the PyPI package `cargo-lambda` ships the prebuilt binary (seconds, where
#                 `cargo install cargo-lambda` compiles for about 11 minutes).
#   zig           cargo lambda links through cargo-zigbuild, so the binary targets Amazon Linux's
#                 glibc rather than this machine's. cargo-zigbuild looks for `python3 -m ziglang`
#                 first (python3 from CARGO_ZIGBUILD_PYTHON_PATH, else from PATH) and for `zig`
#                 on PATH second (CARGO_ZIGBUILD_ZIG_PATH overrides). The PyPI package `ziglang`
#                 provides the first; `cargo lambda system` shows which one is used.
#
# Environment:
#   PYTHON   interpreter used for pip and for zig (default python3)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

PYTHON="${PYTHON:-python3}"
LAMBDA_DIR="$REPO/target/lambda"

cargo_args=()
only=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) cargo_args+=("$arg") ;;
    *) only+=("$arg") ;;
  esac
done

command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed for cargo-lambda and zig from PyPI)"

# Where pip puts console scripts, for this interpreter and for --user installs.
py_bin_dirs() {
  "$PYTHON" - <<'PY'
import site, sysconfig
print(sysconfig.get_path("scripts"))
print(site.getuserbase() + "/bin")
PY
}
while read -r dir; do
  case ":$PATH:" in *":$dir:"*) ;; *) [ -d "$dir" ] && PATH="$PATH:$dir" ;; esac
done < <(py_bin_dirs)
export PATH

pip_install() {
  # Plain install first (virtualenv, pyenv); --user where the system Python refuses that.
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@" >&2 ||
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --user "$@" >&2 ||
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --user --break-system-packages "$@" >&2
  command -v pyenv >/dev/null && pyenv rehash 2>/dev/null || true
  while read -r dir; do
    case ":$PATH:" in *":$dir:"*) ;; *) [ -d "$dir" ] && PATH="$PATH:$dir" ;; esac
  done < <(py_bin_dirs)
  export PATH
}

need=()
cargo lambda --version >/dev/null 2>&1 || need+=(cargo-lambda)
zig_ok() { "$PYTHON" -m ziglang version >/dev/null 2>&1 || zig version >/dev/null 2>&1; }
zig_ok || need+=(ziglang)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} from PyPI"
  pip_install "${need[@]}"
fi
cargo lambda --version >/dev/null 2>&1 || die "cargo lambda still not found after 'pip install cargo-lambda' (PATH=$PATH)"
zig_ok || die "zig not found: neither '$PYTHON -m ziglang' nor 'zig' on PATH works"
# Make cargo-zigbuild use the same interpreter that has ziglang.
if "$PYTHON" -m ziglang version >/dev/null 2>&1; then
  CARGO_ZIGBUILD_PYTHON_PATH="$(command -v "$PYTHON")"
  export CARGO_ZIGBUILD_PYTHON_PATH
fi

# The functions: functions/<name>/Cargo.toml.
functions=()
for manifest in functions/*/Cargo.toml; do
  [ -e "$manifest" ] || continue
  functions+=("$(basename "$(dirname "$manifest")")")
done
[ ${#functions[@]} -gt 0 ] || die "no functions/*/Cargo.toml yet: nothing to build"
if [ ${#only[@]} -gt 0 ]; then
  for name in "${only[@]}"; do
    [ -e "functions/$name/Cargo.toml" ] || die "unknown function '$name' (have: ${functions[*]})"
  done
  functions=("${only[@]}")
fi

# One build per function: a build of several unifies their features, and every function would
# link what the heaviest needs (rag-lambda's features keep the WebSocket functions free of the
# model, PDFium and the office readers; scripts/slim-check.sh keeps it so).
for name in "${functions[@]}"; do
  log "cargo lambda build --release --bin $name ${cargo_args[*]:-}"
  cargo lambda build --release --output-format zip --lambda-dir "$LAMBDA_DIR" \
    --bin "$name" ${cargo_args[@]+"${cargo_args[@]}"}
done

# Sizes: the bootstrap binary (uncompressed, as it is in the zip) and the zip Lambda receives.
"$PYTHON" - "$LAMBDA_DIR" "${functions[@]}" <<'PY'
import os, sys, zipfile

lambda_dir, names = sys.argv[1], sys.argv[2:]
def mib(n):
    return f"{n / 1048576:8.2f} MiB"
print(f"{'function':<22} {'bootstrap':>12} {'zip':>12}  artifact")
missing = 0
for name in names:
    path = os.path.join(lambda_dir, name, "bootstrap.zip")
    if not os.path.exists(path):
        print(f"{name:<22} {'missing':>12} {'':>12}  {path}")
        missing += 1
        continue
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("bootstrap")
    print(f"{name:<22} {mib(info.file_size):>12} {mib(os.path.getsize(path)):>12}  {os.path.relpath(path)}")
sys.exit(1 if missing else 0)
PY
