#!/usr/bin/env bash
# Cold start, side by side: each Lambda function's release binary against a minimal local Lambda
# Runtime API, process start → first GET /runtime/invocation/next, against a hello-world
# lambda_runtime binary built with the same profile; >= 20 runs each, median ratio.
#
#   scripts/coldstart.sh                 # 25 runs each
#   scripts/coldstart.sh --runs 50
#
# Budget (exit status 1 when over): median(function) / median(hello) <= 1.3, and no connection to
# the (dummy, loopback) AWS endpoint during init. Not part of scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# The functions and the hello world in one build (same features for what they share), the
# harness apart (its dependencies must not change theirs).
cargo build --release -p hookgate-ingest -p hookgate-processor -p hookgate-replay -p hookgate-hello-lambda
cargo build --release -p hookgate-e2e --bin hookgate-coldstart
"$CARGO_TARGET_DIR/release/hookgate-coldstart" --bin-dir "$CARGO_TARGET_DIR/release" \
  --config "$root/infra/hookgate.toml" "$@"
