#!/usr/bin/env bash
# Runs every cargo-fuzz target briefly (default 20s each; FUZZ_SECONDS=600 for a longer run).
# cargo fuzz needs nightly features; on the stable toolchain RUSTC_BOOTSTRAP=1 enables them.
# Installs cargo-fuzz from crates.io if it is missing. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
seconds="${FUZZ_SECONDS:-20}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=$(cargo fuzz list)
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "==> fuzz $t (${seconds}s)"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len=4096
done
echo "all fuzz targets ran with no crash"
