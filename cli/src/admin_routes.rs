//! Wiring of the admin API (`/admin/api/…`, bearer token) and the admin page (`/admin`, session
//! cookie) into the local stack's router. The logic is `hookgate_shared::admin`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hookgate_shared::admin::page::{self, PageReply};
use hookgate_shared::admin::{Admin, AdminError, AdminRequest, auth};
use hookgate_shared::app::App;
use hookgate_shared::http::{HttpReply, admin_error_reply};

use crate::serve::{AdminToken, to_response};

/// Largest admin request body (replay filters, forms).
const MAX_BODY: usize = 64 * 1024;

pub fn routes(token: AdminToken) -> Router<Arc<App>> {
    Router::new()
        .route("/admin/api", any(api))
        .route("/admin/api/{*rest}", any(api))
        .route("/admin", any(page_route))
        .route("/admin/{*rest}", any(page_route))
        .layer(Extension(token))
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn read_body(body: axum::body::Body) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        to_response(HttpReply::error(
            413,
            "payload_too_large",
            format!("admin request bodies are limited to {MAX_BODY} bytes"),
        ))
    })
}

async fn api(
    State(app): State<Arc<App>>,
    Extension(token): Extension<AdminToken>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(e) = auth::check_bearer(&token.0, header_str(&parts.headers, header::AUTHORIZATION))
    {
        return to_response(admin_error_reply(&e));
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let reply = Admin::new(&app)
        .handle(&AdminRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            body: &body,
        })
        .await;
    to_response(reply)
}

fn html(reply: PageReply) -> Response {
    let mut res = match reply {
        PageReply::Html { status, body } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        PageReply::Redirect(to) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/admin")),
            )],
        )
            .into_response(),
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    res
}

/// A POST must come from the page itself (the cookie is SameSite=Strict too).
fn same_origin(headers: &HeaderMap) -> bool {
    match (
        header_str(headers, header::ORIGIN),
        header_str(headers, header::HOST),
    ) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        }
        (Some(_), None) => false,
    }
}

fn signed_in(token: &str) -> Response {
    let mut res = html(PageReply::Redirect("/admin".into()));
    if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(token)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn page_route(
    State(app): State<Arc<App>>,
    Extension(token): Extension<AdminToken>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let post = parts.method == axum::http::Method::POST;
    if !post && parts.method != axum::http::Method::GET {
        return to_response(admin_error_reply(&AdminError::MethodNotAllowed(
            "GET, POST",
        )));
    }
    if post && !same_origin(&parts.headers) {
        return html(PageReply::Html {
            status: 403,
            body: "<!doctype html><title>hookgate admin</title><p>Cross-origin form posts are refused.</p>".into(),
        });
    }
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if path == "/admin/login" {
        let presented = if post {
            hookgate_shared::admin::parse_query(std::str::from_utf8(&body).ok())
        } else {
            hookgate_shared::admin::parse_query(parts.uri.query())
        }
        .ok()
        .and_then(|q| q.get("token").cloned());
        return match presented {
            Some(t) if auth::check_bearer(&token.0, Some(&format!("Bearer {t}"))).is_ok() => {
                signed_in(&token.0)
            }
            Some(_) => html(page::login(true)),
            None => html(page::login(false)),
        };
    }
    if !auth::check_cookie(&token.0, header_str(&parts.headers, header::COOKIE)) {
        let mut res = html(page::login(false));
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return res;
    }
    let admin = Admin::new(&app);
    let reply = if post {
        page::post(&admin, &path, &body).await
    } else {
        page::get(&admin, &path, parts.uri.query()).await
    };
    html(reply)
}
