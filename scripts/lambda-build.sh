#!/usr/bin/env bash
# Builds the three Lambda functions (provided.al2023) for arm64 and x86_64 with cargo-lambda + zig
# from the project .venv, and prints each bootstrap's (stripped: release profile) size.
# Slow (minutes per architecture): not part of infra-check.sh or test.sh.
#
#   scripts/lambda-build.sh                 # release build, arm64 then x86_64
#   scripts/lambda-build.sh arm64           # one architecture
#
# Budget: every bootstrap <= 6 MB (6,000,000 bytes); exit status 1 when over or missing.
# Output: copies of each bootstrap in $CARGO_TARGET_DIR/lambda-<arch>/<package>/bootstrap
# (cargo-lambda itself writes $CARGO_TARGET_DIR/lambda/<package>/bootstrap for the last build).
# The cross builds live in $CARGO_TARGET_DIR/<triple>/, apart from the host build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  bash "$root/scripts/venv.sh"
fi
# .venv first: cargo-lambda, and the python with `ziglang` that cargo-lambda uses as the linker.
export PATH="$venv/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(arm64 x86_64)
packages=(hookgate-ingest hookgate-processor hookgate-replay)
budget=6000000
status=0
sizes=()
for arch in "${archs[@]}"; do
  case "$arch" in
    arm64) flag=--arm64; triple=aarch64-unknown-linux-gnu ;;
    x86_64) flag=--x86-64; triple=x86_64-unknown-linux-gnu ;;
    *) echo "unknown architecture $arch (arm64 or x86_64)" >&2; exit 2 ;;
  esac
  if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$triple"; then
    echo "== rustup target add $triple"
    rustup target add "$triple"
  fi
  for p in "${packages[@]}"; do
    # One build per function: each links only its role's features of hookgate-shared (cargo
    # unifies features across the packages of one build).
    echo "== cargo lambda build --release $flag --package $p (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    start=$SECONDS
    cargo lambda build --release "$flag" --package "$p"
    echo "== built in $((SECONDS - start))s"
    f="$CARGO_TARGET_DIR/lambda/$p/bootstrap"
    if [ -f "$f" ]; then
      mkdir -p "$CARGO_TARGET_DIR/lambda-$arch/$p"
      cp "$f" "$CARGO_TARGET_DIR/lambda-$arch/$p/bootstrap"
      sizes+=("$arch $p $(stat -c %s "$f") $(file -b "$f" 2>/dev/null | cut -d, -f1-2 || true)")
    else
      echo "$p: missing $f" >&2
      status=1
    fi
  done
done
echo
printf '%-8s %-20s %12s %9s   %s\n' arch bootstrap bytes MB "(budget <= 6 MB)"
for line in "${sizes[@]}"; do
  read -r arch p bytes kind <<<"$line"
  verdict=OK
  if [ "$bytes" -gt "$budget" ]; then verdict="OVER BUDGET"; status=1; fi
  awk -v a="$arch" -v n="$p" -v b="$bytes" -v v="$verdict" -v k="$kind" \
    'BEGIN { printf "%-8s %-20s %12d %9.2f   %s  %s\n", a, n, b, b / 1e6, v, k }'
done
exit $status
