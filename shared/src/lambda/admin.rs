//! The replay function's entry point: API Gateway HTTP API requests for `/admin/api/…`
//! (IAM-authorized by the route) go to the admin API; anything else is a JSON command.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use serde_json::Value;

use crate::admin::{Admin, AdminRequest};
use crate::app::App;
use crate::http::{self as replies, HttpReply};

use super::apigw::reply_to_apigw;
use super::command::{CommandError, run_command};

/// True for an API Gateway (payload v2) request event.
fn is_http_event(v: &Value) -> bool {
    v.get("requestContext").is_some() && (v.get("rawPath").is_some() || v.get("routeKey").is_some())
}

/// Handles one invocation of the replay function and flushes its metrics.
pub async fn replay_function(app: &App, payload: Value) -> Result<Value, CommandError> {
    let out = if is_http_event(&payload) {
        let reply = match serde_json::from_value::<ApiGatewayV2httpRequest>(payload) {
            Ok(req) => admin_reply(app, &req).await,
            Err(e) => replies::bad_request(format!("not an API Gateway request: {e}")),
        };
        serde_json::to_value(reply_to_apigw(reply)).map_err(|e| CommandError::Failed(e.to_string()))
    } else {
        run_command(app, payload).await
    };
    crate::metrics::flush_emf();
    out
}

async fn admin_reply(app: &App, req: &ApiGatewayV2httpRequest) -> HttpReply {
    let method = req.request_context.http.method.as_str().to_owned();
    let raw_path = req.raw_path.clone().unwrap_or_default();
    // On a named stage (not `$default`) the raw path starts with the stage's name.
    let path = match req.request_context.stage.as_deref() {
        Some(stage) if stage != "$default" => raw_path
            .strip_prefix(&format!("/{stage}"))
            .filter(|p| p.starts_with(crate::admin::PREFIX))
            .map_or(raw_path.clone(), str::to_owned),
        _ => raw_path,
    };
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
    let span = tracing::info_span!("admin", method = %method, path = %path.chars().take(100).collect::<String>());
    let _g = span.enter();
    Admin::new(app)
        .handle(&AdminRequest {
            method: &method,
            path: &path,
            query: req.raw_query_string.as_deref(),
            body: &body,
        })
        .await
}
