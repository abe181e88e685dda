//! API Gateway HTTP API (payload v2) → ingest.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::HeaderValue;

use crate::app::App;
use crate::http::{self as replies, HttpReply};
use crate::ingest::IngestRequest;

const WEBHOOKS_PREFIX: &str = "/webhooks/";

/// Handles `POST /webhooks/{source}` and `GET /health`. Never panics, whatever the event holds.
pub async fn ingest_apigw(app: &App, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let res = reply_to_apigw(ingest_reply(app, &req).await);
    crate::metrics::flush_emf();
    res
}

async fn ingest_reply(app: &App, req: &ApiGatewayV2httpRequest) -> HttpReply {
    let method = req.request_context.http.method.as_str().to_owned();
    let path = req.raw_path.clone().unwrap_or_default();
    if path == "/health" {
        return if method == "GET" {
            HttpReply::json(200, serde_json::json!({ "status": "ok" }))
        } else {
            replies::method_not_allowed("GET")
        };
    }
    let source = match req.path_parameters.get("source") {
        Some(s) => s.clone(),
        None => match path.strip_prefix(WEBHOOKS_PREFIX) {
            Some(s) if !s.is_empty() && !s.contains('/') => s.to_owned(),
            _ => {
                return replies::not_found(format!(
                    "no route for {method} {}",
                    truncate(&path, 100)
                ));
            }
        },
    };
    if !app.ingest.has_source(&source) {
        crate::metrics::ingest_outcome("unknown", Err("unknown_source"));
        return replies::not_found(format!("no source named `{}`", truncate(&source, 64)));
    }
    if method != "POST" {
        return replies::method_not_allowed("POST");
    }
    let raw = req.body.as_deref().unwrap_or("");
    let body = if req.is_base64_encoded {
        match base64::engine::general_purpose::STANDARD.decode(raw) {
            Ok(b) => b,
            Err(_) => {
                return replies::bad_request(
                    "the body is marked base64-encoded but is not valid base64",
                );
            }
        }
    } else {
        raw.as_bytes().to_vec()
    };
    if body.len() > app.ingest.max_body() {
        return replies::payload_too_large(app.ingest.max_body());
    }
    let host = req
        .request_context
        .domain_name
        .as_deref()
        .unwrap_or("localhost");
    let url = match req.raw_query_string.as_deref() {
        Some(q) if !q.is_empty() => format!("https://{host}{path}?{q}"),
        _ => format!("https://{host}{path}"),
    };
    let peer_ip = req
        .request_context
        .http
        .source_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok());
    let result = app
        .ingest
        .handle(&IngestRequest {
            source: &source,
            method: &method,
            url: &url,
            headers: &req.headers,
            body: &body,
            peer_ip,
        })
        .await;
    replies::ingest_reply(&result)
}

/// An [`HttpReply`] as an API Gateway v2 response.
pub fn reply_to_apigw(reply: HttpReply) -> ApiGatewayV2httpResponse {
    let mut res = ApiGatewayV2httpResponse::default();
    res.status_code = i64::from(reply.status);
    res.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in &reply.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            res.headers.insert(*name, v);
        }
    }
    res.body = Some(Body::Text(
        String::from_utf8_lossy(&reply.body_bytes()).into_owned(),
    ));
    res
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
