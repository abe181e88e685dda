//! The floors for `scripts/load.sh`.
//!
//! - Bare: an axum server that reads each request's body and answers 202 with a reply shaped like
//!   hookgate's, doing nothing else. Same runtime, same HTTP stack, same release profile as
//!   `hookgate serve`.
//! - Durable (`--durable DB`): the same server, answering only after the body is durably
//!   committed to SQLite by a group-commit writer with hookgate's durability settings
//!   ([`hookgate_e2e::durable_floor`]); with `--consumers N`, N loops also take what was stored,
//!   up to 10 deliveries at a time (an SQS batch), after a cursor (`--consume cursor`, the
//!   default) or through a queue with SQS semantics (`--consume queue`).
//!
//! Prints `listening on http://ADDR` once bound.
//!
//! Usage: `hookgate-bare [ADDR] [--durable DB [--consumers N] [--consume cursor|queue]]`
//! (default `127.0.0.1:0`).

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use hookgate_e2e::durable_floor::{Consume, DurableFloor};

async fn accept(body: Bytes) -> impl IntoResponse {
    let reply = format!(
        r#"{{"event_id":"evt_{:026}","status":"accepted"}}"#,
        body.len()
    );
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        reply,
    )
}

/// Answers 202 once the delivery is committed (its delivery id as the event id), 503 otherwise.
async fn accept_durably(
    State(floor): State<DurableFloor>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let Some(id) = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"bad_request","reason":"no X-GitHub-Delivery header"}"#.to_owned(),
        );
    };
    let reply = format!(r#"{{"event_id":"{id}","status":"accepted"}}"#);
    match floor.store(id.to_owned(), body).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            reply,
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "error": "store_unavailable", "reason": e }).to_string(),
        ),
    }
}

/// Takes stored deliveries, 10 at a time, until the process ends; naps when there are none.
async fn take_forever(floor: DurableFloor) {
    loop {
        match floor.take(10).await {
            Ok(n) if n > 0 => {}
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => {
                eprintln!("take failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:0".to_owned();
    let (mut durable, mut consumers, mut consume) = (None::<PathBuf>, 0_usize, Consume::Cursor);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--durable" => durable = Some(args.next().ok_or("--durable needs a path")?.into()),
            "--consumers" => consumers = args.next().ok_or("--consumers needs N")?.parse()?,
            "--consume" => consume = Consume::parse(&args.next().ok_or("--consume needs a way")?)?,
            other if !other.starts_with("--") => addr = other.to_owned(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let app = match durable {
        Some(db) => {
            let floor = DurableFloor::open(&db, consume)?;
            for _ in 0..consumers {
                tokio::spawn(take_forever(floor.clone()));
            }
            Router::new()
                .route("/webhooks/{source}", post(accept_durably))
                .with_state(floor)
        }
        None => Router::new().route("/webhooks/{source}", post(accept)),
    };
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
