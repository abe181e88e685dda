#!/usr/bin/env bash
# Ingest CPU per request (no I/O) against one bare HMAC-SHA256 over the same bytes, measured in
# the same criterion run, for 1 KB, 16 KB and 256 KB GitHub push bodies; and processor CPU per
# SQS batch of 10 (no I/O, no handler time). See shared/benches/ingest.rs for what is timed.
#
#   scripts/bench-ingest.sh            # build (bench profile = release) and run, print the ratios
#
# Budget: pipeline / HMAC <= 1.5 at 16 KB (exit status 1 when over). Not part of scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
rm -rf "$CARGO_TARGET_DIR/criterion/ingest" "$CARGO_TARGET_DIR/criterion/processor_batch_of_10"
cargo bench -p hookgate-shared --features aws,lambda --bench ingest -- --noplot "$@"
python3 - "$CARGO_TARGET_DIR/criterion" <<'PY'
import json, os, sys
base = sys.argv[1]
def median_ns(*parts):
    with open(os.path.join(base, *parts, "new", "estimates.json")) as f:
        return json.load(f)["median"]["point_estimate"]
print()
print(f"{'body':>6} {'ingest pipeline':>16} {'HMAC-SHA256':>12} {'ratio':>6}")
ok = True
for size in ["1KB", "16KB", "256KB"]:
    p = median_ns("ingest", "pipeline", size)
    h = median_ns("ingest", "hmac_sha256", size)
    r = p / h
    note = ""
    if size == "16KB":
        good = r <= 1.5
        ok &= good
        note = "  (budget <= 1.50) " + ("OK" if good else "OVER BUDGET")
    print(f"{size:>6} {p / 1000:>13.2f} us {h / 1000:>9.2f} us {r:>6.2f}{note}")
b = median_ns("processor_batch_of_10")
print(f"processor: {b / 1000:.1f} us per SQS batch of 10 ({b / 10000:.1f} us per message), "
      "JSON event in → batch response out, no I/O, no handler time")
sys.exit(0 if ok else 1)
PY
