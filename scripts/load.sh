#!/usr/bin/env bash
# Local throughput, side by side: the same signed GitHub load (2 KB push bodies, unique delivery
# ids, concurrency 64) against `hookgate serve` (SQLite, group commit, `log` handler) and against a
# bare axum server answering 202, in one run; checks every 2xx event is stored and the queue drains.
# Side by side (no budget): the Python peer, scripts/python_peer.py (FastAPI, one uvicorn worker,
# the same HMAC check and a durable SQLite write per delivery).
#
#   scripts/load.sh                      # 20000 requests per run
#   scripts/load.sh --requests 50000     # more (any hookgate-load flag)
#
# Also (no budget): the durable floor, hookgate-bare --durable (group commit to SQLite and nothing
# else; then consumed after a cursor, then through a queue with SQS semantics).
# Budgets (exit status 1 when over): req/s >= 40 % of bare; p99 <= 5x bare; drain >= ingest rate.
# Release builds (opt z, LTO): slow the first time. Not part of scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# Two builds, so the e2e crate's dependencies do not change the hookgate binary's features.
cargo build --release -p hookgate-cli --bin hookgate
cargo build --release -p hookgate-e2e --bin hookgate-load --bin hookgate-bare
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
scripts/venv.sh  # the Python peer (FastAPI + uvicorn) runs from the project's .venv
"$bin/hookgate-load" --hookgate "$bin/hookgate" --bare "$bin/hookgate-bare" \
  --peer "$root/scripts/python_peer.py" --python "$root/.venv/bin/python" --work "$work" "$@"
