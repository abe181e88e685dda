//! The floor for `scripts/load.sh`: an axum server that reads each request's body and answers
//! 202 with a reply shaped like hookgate's, doing nothing else. Same runtime, same HTTP stack, same
//! release profile as `hookgate serve`. Prints `listening on http://ADDR` once bound.
//!
//! Usage: `hookgate-bare [ADDR]` (default `127.0.0.1:0`).

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = Router::new().route("/webhooks/{source}", post(accept));
    axum::serve(listener, app).await?;
    Ok(())
}
