//! The local stack's HTTP front (axum): `POST /webhooks/{source}`, `GET /health`, `GET /metrics`,
//! the admin API under `/admin/api/…` (bearer token) and the admin page under `/admin`; plus the
//! processor pollers and the sweep, with graceful shutdown on SIGTERM / Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hookgate_shared::app::App;
use hookgate_shared::http::{self as replies, HttpReply};
use hookgate_shared::ingest::IngestRequest;
use hookgate_shared::worker;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(
    app: Arc<App>,
    admin_token: String,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for _ in 0..app.config.queue.pollers {
        tasks.push(tokio::spawn(worker::run_poller(app.clone(), stop.clone())));
    }
    tasks.push(tokio::spawn(worker::run_sweeper(app.clone(), stop.clone())));
    let server_stop = stop.clone();
    axum::serve(
        listener,
        router(app, admin_token).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests and batches in flight");
        server_stop.cancel();
    })
    .await?;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("stopped");
    Ok(())
}

pub fn router(app: Arc<App>, admin_token: String) -> Router {
    Router::new()
        .route("/webhooks/{source}", any(webhook))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(crate::admin_routes::routes(AdminToken(admin_token.into())))
        .fallback(fallback)
        .with_state(app)
}

/// The admin token the API and the page check.
#[derive(Clone)]
pub struct AdminToken(pub Arc<str>);

/// Prometheus text: the metrics registry, with the queue gauges read now.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    for (name, q) in [("main", &app.backend.queue), ("dlq", &app.backend.dlq)] {
        match q.stats().await {
            Ok(s) => hookgate_shared::metrics::queue(
                name,
                s.visible + s.in_flight + s.delayed,
                s.oldest_age_secs,
            ),
            Err(e) => {
                tracing::warn!(queue = name, error = %e, "queue stats unavailable for /metrics")
            }
        }
    }
    let mut res = hookgate_shared::metrics::Registry::global()
        .render_prometheus()
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

pub fn to_response(reply: HttpReply) -> Response {
    let mut res = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body_bytes(),
    )
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, v);
        }
    }
    res
}

async fn webhook(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let Ok(Path(source)) = path else {
        return to_response(replies::bad_request(
            "the source in the path is not valid UTF-8",
        ));
    };
    if !app.ingest.has_source(&source) {
        hookgate_shared::metrics::ingest_outcome("unknown", Err("unknown_source"));
        let shown: String = source.chars().take(64).collect();
        return to_response(replies::not_found(format!("no source named `{shown}`")));
    }
    if req.method() != axum::http::Method::POST {
        return to_response(replies::method_not_allowed("POST"));
    }
    let limit = app.ingest.max_body();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return to_response(replies::payload_too_large(limit));
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Err(_) => {
            return to_response(HttpReply::error(
                408,
                "request_timeout",
                "the body took too long to arrive",
            ));
        }
        Ok(Err(e)) if is_length_limit(&e) => return to_response(replies::payload_too_large(limit)),
        Ok(Err(_)) => return to_response(replies::bad_request("the body could not be read")),
        Ok(Ok(b)) => b,
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!(
        "http://{host}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let result = app
        .ingest
        .handle(&IngestRequest {
            source: &source,
            method: parts.method.as_str(),
            url: &url,
            headers: &parts.headers,
            body: &body,
            peer_ip: Some(peer.ip()),
        })
        .await;
    to_response(replies::ingest_reply(&result))
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let queue = app.backend.queue.stats().await;
    let dlq = app.backend.dlq.stats().await;
    match (queue, dlq) {
        (Ok(q), Ok(d)) => to_response(HttpReply::json(
            200,
            serde_json::json!({
                "status": "ok",
                "queue": {"visible": q.visible, "in_flight": q.in_flight, "delayed": q.delayed},
                "dlq": {"visible": d.visible + d.in_flight + d.delayed},
            }),
        )),
        (Err(e), _) | (_, Err(e)) => to_response(HttpReply::error(503, "unhealthy", e.to_string())),
    }
}

async fn fallback(req: Request<Body>) -> Response {
    to_response(replies::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    )))
}
