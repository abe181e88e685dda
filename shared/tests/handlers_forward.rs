//! The `forward` handler against a real local HTTP server that checks signatures with the
//! project's own Standard Webhooks verifier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use hookgate_shared::config::Config;
use hookgate_shared::handlers::{ErrorKind, Event, HandlerError, HandlerReport, Handlers};
use hookgate_shared::model::{DeliveryId, EventId, Generation, SourceName};
use hookgate_shared::secrets::{SecretResolver, SecretValue};
use hookgate_shared::verify::{
    KeyedSecret, StandardWebhooks, Verifier, VerifyError, VerifyRequest,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Deliberately not canonical JSON: forwarding must keep every byte.
const BODY: &[u8] =
    b"{\"ref\" :  \"refs/heads/main\",\n \"name\":\"\xc3\xa9t\xc3\xa9\", \"n\": 1.50}\n";

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// `None` when the request carried no `webhook-signature`.
    verified: Option<Result<String, VerifyError>>,
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    fn record(&self, path: String, headers: HeaderMap, body: Bytes) {
        let verified = headers.contains_key("webhook-signature").then(|| {
            let req = VerifyRequest {
                method: "POST",
                url: "",
                headers: &headers,
                body: &body,
                now: hookgate_shared::clock::now_ms(),
            };
            let keys = [KeyedSecret {
                label: "fwd".into(),
                value: SecretValue::new(SECRET),
            }];
            StandardWebhooks::standard().verify(&req, &keys, Duration::from_secs(300))
        });
        self.seen.lock().unwrap().push(Recorded {
            path,
            headers,
            body,
            verified,
        });
    }

    fn requests(&self, path: &str) -> Vec<Recorded> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn status(
    State(s): State<Server>,
    Path(code): Path<u16>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.record(format!("/status/{code}"), headers, body);
    let code = StatusCode::from_u16(code).unwrap();
    let mut resp = (code, format!("answer {}", code.as_u16())).into_response();
    if code.is_redirection() {
        resp.headers_mut()
            .insert("location", "/status/200".parse().unwrap());
    }
    resp
}

async fn sleep(State(s): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    s.record("/sleep".into(), headers, body);
    tokio::time::sleep(Duration::from_secs(5)).await;
    (StatusCode::OK, "too late").into_response()
}

async fn big(State(s): State<Server>, headers: HeaderMap, body: Bytes) -> Response {
    s.record("/big".into(), headers, body);
    let text: String = (0..20_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    (StatusCode::INTERNAL_SERVER_ERROR, text).into_response()
}

async fn start() -> (Server, String) {
    let server = Server::default();
    let app = Router::new()
        .route("/status/{code}", post(status))
        .route("/sleep", post(sleep))
        .route("/big", post(big))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (server, base)
}

fn event(generation: u32) -> Event {
    let source = SourceName::parse("github").unwrap();
    let delivery_id = DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap();
    Event {
        event_id: EventId::derive(&source, &delivery_id),
        source,
        delivery_id,
        event_type: "push".into(),
        generation: Generation::new(generation).unwrap(),
        received_at: 1_700_000_000_000,
        content_type: Some("application/json; charset=utf-8".into()),
        headers: BTreeMap::new(),
        body: Bytes::from_static(BODY),
        payload: serde_json::from_slice(BODY).ok(),
    }
}

fn build(toml: &str) -> Handlers {
    let cfg = Config::parse(toml, "test.toml").expect("config");
    Handlers::build(&cfg.handlers, Arc::new(SecretResolver::local()), &|_, _| {
        None
    })
    .expect("handlers build")
}

async fn run(h: &Handlers, name: &str, e: &Event) -> Result<HandlerReport, HandlerError> {
    h.get(name).expect("handler").handle(e).await
}

fn header<'a>(r: &'a Recorded, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn forwards_original_bytes_signed_with_metadata_headers() {
    let (server, base) = start().await;
    let h = build(&format!(
        r#"
[handlers.fwd]
kind = "forward"
url = "{base}/status/200?token=abc"
secret = "{SECRET}"
timeout = "1s"
headers = {{ authorization = "Bearer t0k", x-team = "infra" }}
"#
    ));
    let e = event(1);
    let report = run(&h, "fwd", &e).await.expect("2xx is ok");
    assert_eq!(report.http_status, Some(200));
    assert_eq!(report.output.as_deref(), Some("answer 200"));

    let reqs = server.requests("/status/200");
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(&r.body[..], BODY, "body forwarded byte for byte");
    assert_eq!(r.verified, Some(Ok("fwd".to_owned())), "signature verifies");
    assert_eq!(header(r, "webhook-id"), e.event_id.as_str());
    let ts: i64 = header(r, "webhook-timestamp").parse().unwrap();
    assert!((ts - hookgate_shared::clock::now_ms() / 1000).abs() <= 5);
    assert!(header(r, "webhook-signature").starts_with("v1,"));
    assert_eq!(header(r, "content-type"), "application/json; charset=utf-8");
    assert_eq!(header(r, "x-hookgate-event-id"), e.event_id.as_str());
    assert_eq!(header(r, "x-hookgate-source"), "github");
    assert_eq!(header(r, "x-hookgate-event-type"), "push");
    assert_eq!(
        header(r, "x-hookgate-delivery-id"),
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(header(r, "x-hookgate-generation"), "1");
    assert_eq!(header(r, "authorization"), "Bearer t0k");
    assert_eq!(header(r, "x-team"), "infra");
}

#[tokio::test]
async fn replay_gets_a_distinct_webhook_id_that_still_verifies() {
    let (server, base) = start().await;
    let h = build(&format!(
        r#"
[handlers.fwd]
kind = "forward"
url = "{base}/status/202"
secret = "{SECRET}"
"#
    ));
    let e1 = event(1);
    let e3 = event(3);
    assert_eq!(run(&h, "fwd", &e1).await.unwrap().http_status, Some(202));
    assert_eq!(run(&h, "fwd", &e3).await.unwrap().http_status, Some(202));
    let reqs = server.requests("/status/202");
    assert_eq!(reqs.len(), 2);
    assert_eq!(header(&reqs[0], "webhook-id"), e1.event_id.as_str());
    assert_eq!(
        header(&reqs[1], "webhook-id"),
        format!("{}_g3", e3.event_id)
    );
    assert_eq!(header(&reqs[1], "x-hookgate-generation"), "3");
    assert_eq!(reqs[1].verified, Some(Ok("fwd".to_owned())));
    assert_eq!(
        hookgate_shared::handlers::webhook_id(&e3),
        format!("{}_g3", e3.event_id)
    );
}

#[tokio::test]
async fn no_secret_means_no_signature_headers() {
    let (server, base) = start().await;
    let h = build(&format!(
        r#"
[handlers.plain]
kind = "forward"
url = "{base}/status/200"
"#
    ));
    let mut e = event(1);
    e.content_type = Some("text/plain".into());
    run(&h, "plain", &e).await.unwrap();
    let reqs = server.requests("/status/200");
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(
            !r.headers.contains_key(name),
            "{name} sent without a secret"
        );
    }
    assert_eq!(r.verified, None);
    assert_eq!(header(r, "content-type"), "text/plain");
    assert_eq!(header(r, "x-hookgate-event-id"), e.event_id.as_str());
    assert_eq!(&r.body[..], BODY);
}

#[tokio::test]
async fn status_codes_map_to_outcomes() {
    let (server, base) = start().await;
    let codes: [(u16, Option<ErrorKind>); 9] = [
        (200, None),
        (202, None),
        (301, Some(ErrorKind::Permanent)),
        (400, Some(ErrorKind::Permanent)),
        (404, Some(ErrorKind::Permanent)),
        (408, Some(ErrorKind::Transient)),
        (429, Some(ErrorKind::Transient)),
        (500, Some(ErrorKind::Transient)),
        (503, Some(ErrorKind::Transient)),
    ];
    let mut toml = String::new();
    for (c, _) in &codes {
        toml.push_str(&format!(
            "[handlers.h{c}]\nkind = \"forward\"\nurl = \"{base}/status/{c}\"\nsecret = \"{SECRET}\"\ntimeout = \"1s\"\n"
        ));
    }
    let h = build(&toml);
    let e = event(1);
    for (c, expected) in codes {
        let got = run(&h, &format!("h{c}"), &e).await;
        let answer = format!("answer {c}");
        match expected {
            None => {
                let r = got.unwrap_or_else(|e| panic!("{c}: {e:?}"));
                assert_eq!(r.http_status, Some(c));
                assert_eq!(r.output.as_deref(), Some(answer.as_str()));
            }
            Some(kind) => {
                let err = got.expect_err(&format!("{c} must fail"));
                assert_eq!(err.kind, kind, "{c}");
                assert_eq!(err.http_status, Some(c), "{c}");
                assert_eq!(err.output.as_deref(), Some(answer.as_str()), "{c}");
                assert!(err.message.contains(&c.to_string()), "{}", err.message);
                assert!(!err.message.contains(SECRET));
                assert!(!err.message.contains("whsec_"));
            }
        }
        assert_eq!(server.requests(&format!("/status/{c}")).len(), 1, "{c}");
    }
    // The 301 pointed at /status/200: not followed, so /status/200 saw only its own request.
    assert_eq!(server.requests("/status/200").len(), 1);
}

#[tokio::test]
async fn response_snippet_is_truncated() {
    let (_server, base) = start().await;
    let h = build(&format!(
        "[handlers.big]\nkind = \"forward\"\nurl = \"{base}/big\"\n"
    ));
    let err = run(&h, "big", &event(1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.http_status, Some(500));
    let out = err.output.unwrap();
    assert_eq!(out.len(), 512);
    assert!(out.starts_with("abcdefghijklmnopqrstuvwxyzabc"));
}

#[tokio::test]
async fn slow_target_times_out_as_transient() {
    let (server, base) = start().await;
    let h = build(&format!(
        "[handlers.slow]\nkind = \"forward\"\nurl = \"{base}/sleep\"\ntimeout = \"300ms\"\n"
    ));
    let started = Instant::now();
    let err = run(&h, "slow", &event(1)).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.http_status, None);
    assert!(err.message.contains("timed out"), "{}", err.message);
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(server.requests("/sleep").len(), 1);
}

#[tokio::test]
async fn unreachable_target_is_transient() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = build(&format!(
        "[handlers.down]\nkind = \"forward\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{SECRET}\"\ntimeout = \"1s\"\n"
    ));
    let err = run(&h, "down", &event(1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.http_status, None);
    assert!(err.message.contains("connect"), "{}", err.message);
    assert!(!err.message.contains(SECRET));
}

#[tokio::test]
async fn secret_is_resolved_at_handle_time_not_build_time() {
    let (server, base) = start().await;
    // Building must neither resolve the secret nor touch the network.
    let h = build(&format!(
        r#"
[handlers.unset]
kind = "forward"
url = "{base}/status/200"
secret = "env:HOOKGATE_TEST_FORWARD_SECRET_SURELY_UNSET"

[handlers.nowhere]
kind = "forward"
url = "http://hookgate-test.invalid/hook"
"#
    ));
    let err = run(&h, "unset", &event(1)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(
        err.message
            .contains("HOOKGATE_TEST_FORWARD_SECRET_SURELY_UNSET"),
        "{}",
        err.message
    );
    assert!(
        server.requests("/status/200").is_empty(),
        "nothing sent unsigned"
    );
}

#[test]
fn bad_extra_headers_fail_the_build() {
    for headers in [
        r#"{ "bad header" = "x" }"#,
        r#"{ x-ok = "line\nbreak" }"#,
        r#"{ webhook-signature = "v1,forged" }"#,
        r#"{ x-hookgate-event-id = "evt_x" }"#,
    ] {
        let toml = format!(
            "[handlers.f]\nkind = \"forward\"\nurl = \"http://127.0.0.1:9/\"\nheaders = {headers}\n"
        );
        let cfg = Config::parse(&toml, "t").unwrap();
        let err = Handlers::build(&cfg.handlers, Arc::new(SecretResolver::local()), &|_, _| {
            None
        })
        .err()
        .unwrap_or_else(|| panic!("{headers} accepted"));
        assert_eq!(err.name, "f");
        assert!(err.message.contains("headers"), "{}", err.message);
    }
}
