//! The web admin page (`/admin` on the local stack): server-rendered HTML (minijinja templates,
//! auto-escaped), a little inline JavaScript for the live refresh, plain HTML forms for the
//! actions. Every action goes through [`Admin`], the same operations as the JSON API.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /admin?source&status&event_type&delivery_id&since&until&where&cursor` | stats panel, filters, event list, bulk replay |
//! | `GET /admin/rows?…`, `GET /admin/stats` | the list's rows and the stats panel only (the live refresh fetches them) |
//! | `GET /admin/events/{id}` | headers, pretty body, attempts timeline, replay button |
//! | `POST /admin/events/{id}/replay` | replay one, back to the detail |
//! | `POST /admin/replay` | bulk replay: first the dry-run count and a confirm button, then the run |
//! | `GET /admin/dlq`, `POST /admin/dlq/redrive` | the dead-letter queue and its redrive |
//! | `GET /admin/login?token=…`, `POST /admin/login` | sign in: sets the session cookie |

use std::sync::OnceLock;

use minijinja::{Environment, context};
use serde::Serialize;

use super::{Admin, AdminError, ListQuery, ReplayFilterRequest, parse_query};
use crate::model::EventStatus;
use crate::query::FilterSpec;

/// What the edge sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageReply {
    Html {
        status: u16,
        body: String,
    },
    /// 303 See Other to this location (after a POST).
    Redirect(String),
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("attempt_time", |ms: i64| crate::clock::rfc3339(ms));
        env.add_filter("short", |s: String, max: usize| {
            if s.chars().count() <= max {
                s
            } else {
                format!("{}…", s.chars().take(max).collect::<String>())
            }
        });
        for (name, src) in [
            ("base.html", include_str!("templates/base.html")),
            ("list.html", include_str!("templates/list.html")),
            ("rows.html", include_str!("templates/rows.html")),
            ("stats.html", include_str!("templates/stats.html")),
            ("detail.html", include_str!("templates/detail.html")),
            ("confirm.html", include_str!("templates/confirm.html")),
            ("dlq.html", include_str!("templates/dlq.html")),
            ("login.html", include_str!("templates/login.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "admin template does not parse");
            }
        }
        env
    })
}

fn render(status: u16, name: &str, ctx: minijinja::Value) -> PageReply {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(body) => PageReply::Html { status, body },
        Err(e) => {
            tracing::error!(template = name, error = %e, "admin page failed to render");
            PageReply::Html {
                status: 500,
                body: "<!doctype html><title>hookgate admin</title><p>The page failed to render; see the server log.</p>".into(),
            }
        }
    }
}

fn error_page(e: &AdminError) -> PageReply {
    let reply = crate::http::admin_error_reply(e);
    render(
        reply.status,
        "error.html",
        context! { status => reply.status, error => reply.body["error"], reason => reply.body["reason"] },
    )
}

/// The sign-in form (no or wrong cookie).
pub fn login(wrong: bool) -> PageReply {
    render(
        if wrong { 401 } else { 200 },
        "login.html",
        context! { wrong => wrong },
    )
}

#[derive(Serialize)]
struct FilterForm {
    source: String,
    status: String,
    event_type: String,
    delivery_id: String,
    since: String,
    until: String,
    payload: String,
    query: String,
}

fn filter_form(q: &ListQuery) -> FilterForm {
    let f = &q.filter;
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("source", &f.source),
        ("status", &f.status),
        ("event_type", &f.event_type),
        ("delivery_id", &f.delivery_id),
        ("since", &f.since),
        ("until", &f.until),
        ("where", &q.payload),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.append_pair(k, v);
        }
    }
    FilterForm {
        source: s(&f.source),
        status: s(&f.status),
        event_type: s(&f.event_type),
        delivery_id: s(&f.delivery_id),
        since: s(&f.since),
        until: s(&f.until),
        payload: s(&q.payload),
        query: pairs.finish(),
    }
}

fn statuses() -> Vec<&'static str> {
    EventStatus::ALL.iter().map(|s| s.as_str()).collect()
}

/// `GET` routes under `/admin` (`path` is the full path).
pub async fn get(admin: &Admin<'_>, path: &str, query: Option<&str>) -> PageReply {
    let rest = path.trim_start_matches("/admin").trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => list_page(admin, query, false).await,
        ["rows"] => list_page(admin, query, true).await,
        ["stats"] => match admin.stats(None).await {
            Ok(stats) => render(200, "stats.html", context! { stats => stats }),
            Err(e) => error_page(&e),
        },
        ["events", id] => {
            let flash = parse_query(query)
                .ok()
                .and_then(|q| q.get("flash").cloned());
            match admin.event(id).await {
                Ok(d) => {
                    let sources = admin.app().config.sources.len();
                    render(
                        200,
                        "detail.html",
                        context! { d => d, flash => flash, sources => sources },
                    )
                }
                Err(e) => error_page(&e),
            }
        }
        ["dlq"] => {
            let flash = parse_query(query)
                .ok()
                .and_then(|q| q.get("flash").cloned());
            match admin.dlq(super::MAX_LIMIT).await {
                Ok(messages) => render(
                    200,
                    "dlq.html",
                    context! { messages => messages, flash => flash },
                ),
                Err(e) => error_page(&e),
            }
        }
        _ => error_page(&AdminError::NotFound(format!(
            "no admin page {}",
            path.chars().take(100).collect::<String>()
        ))),
    }
}

async fn list_page(admin: &Admin<'_>, query: Option<&str>, rows_only: bool) -> PageReply {
    let q = match ListQuery::from_query(query) {
        Ok(q) => q,
        Err(e) => return error_page(&e),
    };
    let list = match admin.list(&q).await {
        Ok(l) => l,
        Err(e) => return error_page(&e),
    };
    let form = filter_form(&q);
    if rows_only {
        return render(200, "rows.html", context! { events => list.events });
    }
    let stats = match admin.stats(None).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "stats panel unavailable");
            None
        }
    };
    let next = list.next_cursor.as_ref().map(|c| {
        let mut s = url::form_urlencoded::Serializer::new(form.query.clone());
        s.append_pair("cursor", c);
        s.finish()
    });
    let sources: Vec<String> = admin
        .app()
        .config
        .sources
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    render(
        200,
        "list.html",
        context! {
            events => list.events,
            scanned => list.scanned,
            next => next,
            f => form,
            stats => stats,
            statuses => statuses(),
            sources => sources,
            paged => q.cursor.is_some(),
        },
    )
}

/// `POST` routes under `/admin`, with the urlencoded form body.
pub async fn post(admin: &Admin<'_>, path: &str, form: &[u8]) -> PageReply {
    let rest = path.trim_start_matches("/admin").trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let fields = match std::str::from_utf8(form)
        .map_err(|_| AdminError::BadRequest("the form is not UTF-8".into()))
        .and_then(|s| parse_query(Some(s)))
    {
        Ok(f) => f,
        Err(e) => return error_page(&e),
    };
    let field = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    match segments.as_slice() {
        ["events", id, "replay"] => match admin.replay_one(id).await {
            Ok(r) => {
                let generation_now = match &r.result {
                    crate::replay::ReplayOutcome::Replayed { generation, .. }
                    | crate::replay::ReplayOutcome::MarkedNotSent { generation, .. } => {
                        generation.get()
                    }
                    _ => 0,
                };
                let flash = format!(
                    "Replayed as generation {generation_now} (run {}).",
                    r.run_id
                );
                PageReply::Redirect(format!(
                    "/admin/events/{id}?{}",
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("flash", &flash)
                        .finish()
                ))
            }
            Err(e) => error_page(&e),
        },
        ["replay"] => {
            let req = ReplayFilterRequest {
                filter: FilterSpec {
                    source: field("source"),
                    status: field("status"),
                    event_type: field("event_type"),
                    delivery_id: field("delivery_id"),
                    since: field("since"),
                    until: field("until"),
                },
                dry_run: field("confirm").as_deref() != Some("yes"),
                rate: None,
                limit: None,
                all: field("all").as_deref() == Some("yes"),
            };
            let form = filter_form(&ListQuery {
                filter: req.filter.clone(),
                ..Default::default()
            });
            match admin.replay_filter(&req).await {
                Ok(report) => render(
                    200,
                    "confirm.html",
                    context! { report => report, f => form, all => req.all },
                ),
                Err(e) => error_page(&e),
            }
        }
        ["dlq", "redrive"] => match admin.redrive().await {
            Ok(r) => PageReply::Redirect(format!(
                "/admin/dlq?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(
                        "flash",
                        &format!("Moved {} message(s) back to the main queue.", r.moved)
                    )
                    .finish()
            )),
            Err(e) => error_page(&e),
        },
        _ => error_page(&AdminError::NotFound(format!(
            "no admin action {}",
            path.chars().take(100).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for name in [
            "base.html",
            "list.html",
            "rows.html",
            "stats.html",
            "detail.html",
            "confirm.html",
            "dlq.html",
            "login.html",
            "error.html",
        ] {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        match login(true) {
            PageReply::Html { status, body } => {
                assert_eq!(status, 401);
                assert!(body.contains("<form"));
            }
            other => panic!("{other:?}"),
        }
    }
}
