#!/usr/bin/env bash
# Cold start, side by side: each Lambda function's release binary against a minimal local Lambda
# Runtime API, process start → first GET /runtime/invocation/next, against a hello-world
# lambda_runtime binary built with the same profile; >= 20 runs each, median ratio.
#
#   scripts/coldstart.sh                 # 25 runs each
#   scripts/coldstart.sh --runs 50
#   scripts/coldstart.sh --as-built      # the linker's files in place, not unpacked copies
#
# Budget (exit status 1 when over): median(function) / median(hello) <= 1.3, and no connection to
# the (dummy, loopback) AWS endpoint during init. Not part of scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# One build per function, as deployed: each links only its role's features of hookgate-shared, and
# cargo unifies features across the packages of one build. The hello world on its own too (the
# plain `cargo lambda new` floor), the harness apart (its dependencies must not change theirs).
for p in hookgate-ingest hookgate-processor hookgate-replay hookgate-hello-lambda; do
  cargo build --release -p "$p"
done
cargo build --release -p hookgate-e2e --bin hookgate-coldstart
"$CARGO_TARGET_DIR/release/hookgate-coldstart" --bin-dir "$CARGO_TARGET_DIR/release" \
  --config "$root/infra/hookgate.toml" "$@"
