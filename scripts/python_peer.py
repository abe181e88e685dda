"""The Python peer for scripts/load.sh: a webhook receiver written the way the FastAPI services
hookgate replaces are written, doing the same ingest work for the same GitHub delivery.

    python_peer.py DB_PATH          # prints "listening on http://127.0.0.1:PORT", serves until SIGTERM

POST /webhooks/github: verify `X-Hub-Signature-256` (HMAC-SHA256 of the raw body, constant-time
compare; secret from PEER_SECRET) → 401 when wrong; read `X-GitHub-Delivery` → 400 when missing;
then one SQLite transaction (WAL, synchronous=FULL, as hookgate's local stack) holding the event
row and its job row (where a Celery app would hand the task to its broker) → 202, or 200 for a
delivery id already stored. One uvicorn worker (one process, as `hookgate serve`); the handler is
`async` and does its blocking database work in Starlette's thread pool, the usual FastAPI way.
No processing: the peer's figures are ingest alone, which flatters it.
"""

import hashlib
import hmac
import json
import os
import socket
import sqlite3
import sys
import threading

import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

SECRET = os.environ.get("PEER_SECRET", "").encode()
DB_PATH = sys.argv[1] if len(sys.argv) > 1 else "peer.db"
_local = threading.local()


def _conn():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB_PATH, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        _local.conn = conn
    return conn


def _init():
    conn = _conn()
    conn.execute(
        "CREATE TABLE IF NOT EXISTS events (delivery_id TEXT PRIMARY KEY, event_type TEXT,"
        " received_at REAL, headers TEXT, body BLOB, status TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, delivery_id TEXT, queued_at REAL)"
    )


def _store(delivery_id, event_type, headers, body):
    conn = _conn()
    conn.execute("BEGIN IMMEDIATE")
    try:
        cur = conn.execute(
            "INSERT OR IGNORE INTO events VALUES (?, ?, julianday('now'), ?, ?, 'received')",
            (delivery_id, event_type, json.dumps(headers), body),
        )
        new = cur.rowcount == 1
        if new:
            conn.execute(
                "INSERT INTO jobs (delivery_id, queued_at) VALUES (?, julianday('now'))",
                (delivery_id,),
            )
        conn.execute("COMMIT")
        return new
    except BaseException:
        conn.execute("ROLLBACK")
        raise


app = FastAPI()


@app.post("/webhooks/github")
async def github(request: Request):
    body = await request.body()
    given = request.headers.get("x-hub-signature-256", "")
    want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, want):
        return Response(json.dumps({"error": "unauthorized"}), 401, media_type="application/json")
    delivery_id = request.headers.get("x-github-delivery")
    if not delivery_id:
        return Response(json.dumps({"error": "bad_request"}), 400, media_type="application/json")
    headers = {
        k: v
        for k, v in request.headers.items()
        if k in ("user-agent", "x-github-event", "x-github-hook-id")
    }
    new = await run_in_threadpool(
        _store, delivery_id, request.headers.get("x-github-event", "unknown"), headers, body
    )
    status = "accepted" if new else "duplicate"
    return Response(
        json.dumps({"event_id": delivery_id, "status": status}),
        202 if new else 200,
        media_type="application/json",
    )


def main():
    _init()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, workers=1)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
