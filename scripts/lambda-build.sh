#!/usr/bin/env bash
# Builds the three Lambda functions for arm64 (provided.al2023) with cargo-lambda + zig from the
# project .venv, and prints each bootstrap's size. Slow (minutes): not part of infra-check.sh.
#
#   scripts/lambda-build.sh               # release build of ingest, processor, replay
#   CARGO_TARGET_DIR=/tmp/t scripts/lambda-build.sh
#
# Output: $CARGO_TARGET_DIR/lambda/<binary>/bootstrap (default target dir: target/lambda-build,
# kept apart from the host build so the two don't invalidate each other's caches).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  bash "$root/scripts/venv.sh"
fi
# .venv first: cargo-lambda, and the python with `ziglang` that cargo-lambda uses as the linker.
export PATH="$venv/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/lambda-build}"
# aws-lc-sys: no jitter-entropy source when cross-compiling with zig.
export AWS_LC_SYS_NO_JITTER_ENTROPY=1

target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx "$target"; then
    echo "== rustup target add $target"
    rustup target add "$target"
  fi
fi

packages=(hookgate-ingest hookgate-processor hookgate-replay)
args=()
for p in "${packages[@]}"; do args+=(--package "$p"); done

echo "== cargo lambda build --release --arm64 ${args[*]} (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
start=$SECONDS
cargo lambda build --release --arm64 "${args[@]}"
echo "== built in $((SECONDS - start))s"

status=0
for p in "${packages[@]}"; do
  f="$CARGO_TARGET_DIR/lambda/$p/bootstrap"
  if [ -f "$f" ]; then
    bytes=$(stat -c %s "$f")
    awk -v n="$p" -v b="$bytes" 'BEGIN { printf "%-20s %10d bytes  %6.2f MB\n", n, b, b / 1048576 }'
  else
    echo "$p: missing $f" >&2
    status=1
  fi
done
exit $status
