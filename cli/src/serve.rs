//! The local stack's HTTP front (axum on hyper): `POST /webhooks/{source}`, `GET /health`,
//! `GET /metrics`, the admin API under `/admin/api/…` (bearer token) and the admin page under
//! `/admin`; plus the processor pollers and the sweep, with graceful shutdown on SIGTERM / Ctrl-C.
//!
//! The accept loop is ours rather than `axum::serve`'s so that slow or silent clients cannot hold
//! connections: a connection that sends no byte within the header timeout is dropped, request
//! headers must arrive within it (hyper's `header_read_timeout`), and a body within the body
//! timeout (408).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// How long clients get to send their requests.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From the connection's start (or the end of its previous request) to the end of a request's
    /// headers; a connection silent that long is closed.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body (else 408).
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// The most request headers and header bytes a request may carry (else 431 with a JSON reason).
const MAX_HEADERS: usize = 100;
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's read buffer: above [`MAX_HEADER_BYTES`] so the check below answers first.
const HYPER_MAX_BUF: usize = 1024 * 1024;

/// How long a graceful shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `serve` processes what it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processing {
    /// The processor loops and the sweep run beside the HTTP front.
    On,
    /// Ingest only: events wait in the queue. The sweep does not run either, since it would send
    /// their messages again.
    Off,
}

pub async fn run(
    app: Arc<App>,
    admin_token: String,
    listener: tokio::net::TcpListener,
    limits: HttpLimits,
    processing: Processing,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    if processing == Processing::On {
        for _ in 0..app.config.queue.pollers {
            tasks.push(tokio::spawn(worker::run_poller(app.clone(), stop.clone())));
        }
        tasks.push(tokio::spawn(worker::run_sweeper(app.clone(), stop.clone())));
    } else {
        tracing::warn!("ingest only: deliveries are stored and queued, not processed");
    }
    serve_http(
        listener,
        router(app, admin_token, limits, processing),
        limits,
    )
    .await;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn serve_http(listener: tokio::net::TcpListener, router: Router, limits: HttpLimits) {
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's own limits sit above ours, so an oversized head still gets our JSON 431; only a head
    // beyond hyper's buffer is refused bare.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // A client may shut down its sending side once the request is out and still wait for the
        // answer.
        .half_close(true)
        .max_headers(MAX_HEADERS * 4)
        .max_buf_size(HYPER_MAX_BUF);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout));
    let graceful = GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = {
            let router = router.clone();
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(Body::new))
            })
        };
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // A connection that never sends a byte is closed (hyper's header timeout may only
            // start with the first byte).
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests and batches in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("connections still open after the drain timeout; closing them");
        }
    }
}

pub fn router(
    app: Arc<App>,
    admin_token: String,
    limits: HttpLimits,
    processing: Processing,
) -> Router {
    Router::new()
        .route("/webhooks/{source}", any(webhook))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(crate::admin_routes::routes(AdminToken(admin_token.into())))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(header_limits))
        .layer(Extension(limits))
        .layer(Extension(processing))
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
    Extension(limits): Extension<HttpLimits>,
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
    let body = match tokio::time::timeout(limits.body_timeout, axum::body::to_bytes(body, limit))
        .await
    {
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

/// 431 for requests with too many or too large headers, before any route runs.
async fn header_limits(req: Request, next: axum::middleware::Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return to_response(HttpReply::error(
            431,
            "headers_too_large",
            format!(
                "{} headers of {bytes} bytes; at most {MAX_HEADERS} headers and {MAX_HEADER_BYTES} bytes",
                headers.len()
            ),
        ));
    }
    next.run(req).await
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

async fn health(
    State(app): State<Arc<App>>,
    Extension(processing): Extension<Processing>,
) -> Response {
    let queue = app.backend.queue.stats().await;
    let dlq = app.backend.dlq.stats().await;
    match (queue, dlq) {
        (Ok(q), Ok(d)) => to_response(HttpReply::json(
            200,
            serde_json::json!({
                "status": "ok",
                "processing": match processing {
                    Processing::On => "on",
                    Processing::Off => "off",
                },
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
