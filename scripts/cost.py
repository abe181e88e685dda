#!/usr/bin/env python3
"""Modelled AWS cost per million events, from measured AWS call counts and item sizes.

The counts and sizes come from the moto test `aws_calls_per_event_on_the_happy_path`
(shared/tests/lambda_events.rs): 10 signed GitHub push deliveries through the ingest handler, one
SQS batch of 10 through the processor handler, every DynamoDB/SQS request counted by an SDK
interceptor, and the stored item's DynamoDB size as ingest wrote it and once processed. This script
runs that test (moto from the project .venv) and prices the result:

    scripts/cost.py                       # run the moto test, print the table
    scripts/cost.py --markdown            # the same as a Markdown table (README)
    scripts/cost.py --measured "cost-model: events=10 PutItem=10 ..."   # price a line you have

Prices: public list prices, us-east-1, no free tier, on-demand (checked 2026-11; edit PRICES).
Everything that is an assumption rather than a measurement is a named constant below and is
printed with the table. Budget: AWS calls per event on the happy path <= 3.2 (exit 1 when over).
"""

import argparse
import math
import os
import re
import subprocess
import sys

PRICES = {
    # API Gateway HTTP API: first 300 million requests a month, per request up to 512 KB.
    "apigw_http_per_million": 1.00,
    # Lambda, arm64: per GB-second (first 6 billion GB-s a month) and per request.
    "lambda_arm64_gb_s": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    # DynamoDB on-demand (standard table class): write and read request units.
    "ddb_per_million_wru": 0.625,
    "ddb_per_million_rru": 0.125,
    # DynamoDB storage, per GB-month (standard table class).
    "ddb_gb_month": 0.25,
    # SQS standard queue: per request (each 64 KB chunk of a payload is one request).
    "sqs_per_million_requests": 0.40,
    # CloudWatch Logs ingestion, per GB.
    "logs_per_gb": 0.50,
}

ASSUMPTIONS = {
    # Memory: the template's defaults (IngestMemorySize, ProcessorMemorySize).
    "ingest_memory_mb": 256,
    "processor_memory_mb": 256,
    # Billed duration of one ingest invocation: one PutItem and one SendMessage round trip
    # in-region (~5-10 ms each) plus well under 1 ms of CPU (scripts/bench-ingest.sh).
    "ingest_ms": 20,
    # Billed duration of one processor invocation (batch of 10, the template's default batch
    # size): BatchGetItem, then handlers (`log`), records, each step concurrent across the batch
    # (a first receive runs on the lease ingest took: no claim): ~2 round trips plus well under
    # 1 ms of CPU.
    "processor_ms_per_batch": 30,
    "batch_size": 10,
    # The event source mapping's own SQS requests per batch: one ReceiveMessage that returns the
    # batch and one DeleteMessageBatch (empty long polls while idle are not counted).
    "esm_sqs_requests_per_batch": 2,
    # CloudWatch Logs per event: ingest's and the processor's JSON lines plus Lambda's
    # START/END/REPORT lines, shared by a batch for the processor.
    "log_bytes_per_event": 1000,
    # Retention (TTL) = the dedupe window, the template default.
    "retention_days": 30,
}

# The table's indexes (infra/template.yaml): `by_source` projects ALL attributes, so every write
# of the item writes it again there; `pending` is sparse (KEYS + generation + status): ingest adds a
# small entry, the record removes it. On the happy path every UpdateItem is a record: the first
# receive runs on the lease ingest took when it stored the event, so nothing claims.
PENDING_ENTRY_WRU = 1


def wru(size_bytes):
    return max(1, math.ceil(size_bytes / 1024))


def rru_strong(size_bytes):
    return max(1, math.ceil(size_bytes / 4096))


def measure():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(root, "target"))
    subprocess.run(["bash", os.path.join(root, "scripts", "venv.sh")], check=True, cwd=root)
    out = subprocess.run(
        [
            "cargo", "test", "-q", "-p", "hookgate-shared", "--features", "aws,lambda,contract",
            "--test", "lambda_events", "aws_calls_per_event_on_the_happy_path", "--",
            "--nocapture",
        ],
        cwd=root, env=env, check=True, capture_output=True, text=True,
    )
    for line in out.stdout.splitlines():
        if line.startswith("cost-model:"):
            return line
    sys.exit("the test printed no cost-model line:\n" + out.stdout + out.stderr)


def parse(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def model(m):
    n = m["events"]
    a = ASSUMPTIONS
    p = PRICES
    puts = m["PutItem"] / n
    sends = m["SendMessage"] / n
    gets = m["BatchGetItem"] / n
    updates = m["UpdateItem"] / n
    records = updates
    s0 = m["item_bytes_received"]
    s2 = m["item_bytes_processed"]
    calls = puts + sends + gets + updates

    wru_put = puts * (wru(s0) + wru(s0) + PENDING_ENTRY_WRU)
    # An update is billed by the larger of the item before and after.
    wru_record = records * (wru(max(s0, s2)) + wru(s2) + PENDING_ENTRY_WRU)
    rru = rru_strong(s0)  # each event read once, strongly consistent, by the batch get
    batches = 1 / a["batch_size"]
    sqs = sends + batches * a["esm_sqs_requests_per_batch"]
    gb_s_ingest = a["ingest_memory_mb"] / 1024 * a["ingest_ms"] / 1000
    gb_s_proc = batches * a["processor_memory_mb"] / 1024 * a["processor_ms_per_batch"] / 1000
    stored_gb_month = 2 * s2 / 1e9 * a["retention_days"] / 30  # table + by_source index

    M = 1e6
    rows = [
        ("API Gateway HTTP API", "1 request", p["apigw_http_per_million"]),
        ("Lambda requests", f"1 ingest + {batches:.1f} processor invocations",
         (1 + batches) * p["lambda_per_million_requests"]),
        ("Lambda compute (arm64)",
         f"ingest {a['ingest_ms']} ms + processor {a['processor_ms_per_batch']} ms/{a['batch_size']} at {a['ingest_memory_mb']} MB",
         (gb_s_ingest + gb_s_proc) * M * p["lambda_arm64_gb_s"]),
        ("DynamoDB writes",
         f"{wru_put + wru_record:.1f} WRU (put {wru_put:.0f}, record {wru_record:.0f}; incl. indexes)",
         (wru_put + wru_record) * p["ddb_per_million_wru"]),
        ("DynamoDB reads", f"{gets:.1f} BatchGetItem, {rru} RRU", rru * p["ddb_per_million_rru"]),
        ("DynamoDB storage", f"{2 * s2} B x {a['retention_days']} days (table + by_source)",
         stored_gb_month * M * p["ddb_gb_month"]),
        ("SQS requests", f"{sends:.0f} send + {batches * a['esm_sqs_requests_per_batch']:.1f} receive/delete",
         sqs * p["sqs_per_million_requests"]),
        ("CloudWatch Logs", f"{a['log_bytes_per_event']} B", a["log_bytes_per_event"] / 1e9 * M * p["logs_per_gb"]),
    ]
    return calls, (s0, s2), rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measured", help="a cost-model: line (skip running the moto test)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    line = args.measured or measure()
    m = parse(line)
    calls, (s0, s2), rows = model(m)
    total = sum(r[2] for r in rows)
    print(f"measured ({m['events']} events on moto): {line.removeprefix('cost-model: ')}")
    print(f"AWS calls per event by the functions: {calls:.1f}  (budget <= 3.2) "
          + ("OK" if calls <= 3.2 else "OVER BUDGET"))
    print(f"item: {s0} B as stored by ingest, {s2} B once processed "
          f"(body {m['body_bytes']} B; one write unit is 1024 B)")
    print()
    if args.markdown:
        print("| component | per event | USD per million events |")
        print("| --- | --- | ---: |")
        for name, what, usd in rows:
            print(f"| {name} | {what} | {usd:.2f} |")
        print(f"| **total** | | **{total:.2f}** |")
    else:
        for name, what, usd in rows:
            print(f"{name:<24} {usd:>7.2f}  {what}")
        print(f"{'total':<24} {total:>7.2f}  USD per million events")
    print()
    print("assumptions: " + ", ".join(f"{k}={v}" for k, v in ASSUMPTIONS.items()))
    print("prices (USD, us-east-1, list, no free tier): "
          + ", ".join(f"{k}={v}" for k, v in PRICES.items()))
    sys.exit(0 if calls <= 3.2 else 1)


if __name__ == "__main__":
    main()
