//! The hostile-input corpus against the local stack, over raw TCP so that requests no polite client
//! would send can be sent: oversized and truncated bodies, huge and repeated headers, lookalike
//! header names, bad bytes, odd paths and methods, slow clients. Every case must get a 4xx with a
//! JSON reason (never a 5xx, a panic or a hang) and leave the store unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hookgate_e2e::{Backend, Stack, signed};
use serde_json::Value;

const GH: &str = "hostile-gh-secret";
const STRIPE: &str = "whsec_hostile_stripe";
const SW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MAX_BODY: usize = 65_536;

fn config() -> String {
    format!(
        r#"[ingest]
max_body_bytes = {MAX_BODY}

[[sources]]
name = "github"
provider = "github"
secrets = ["{GH}"]

[[sources]]
name = "stripe"
provider = "stripe"
secrets = ["{STRIPE}"]

[[sources]]
name = "std"
provider = "standard-webhooks"
secrets = ["{SW}"]

[[routes]]
source = "github"
handlers = ["log"]

[[routes]]
source = "stripe"
handlers = ["log"]

[handlers.log]
kind = "log"
"#
    )
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// Writes `parts` (pausing `gap` between them), half-closes, and reads the whole response.
fn exchange(addr: SocketAddr, parts: &[&[u8]], gap: Duration) -> Option<Reply> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(gap);
        }
        // The server may answer (and close) before reading everything: that is fine.
        if s.write_all(p).is_err() {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    let mut raw = Vec::new();
    let debug = std::env::var_os("HOSTILE_DEBUG").is_some();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the response: {e}"),
        }
    }
    if debug {
        eprintln!("{}", String::from_utf8_lossy(&raw));
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut content_type = String::new();
    let mut len = None;
    for l in lines {
        let (k, v) = l.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = v.trim().to_owned(),
            "content-length" => len = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = rest[..len.unwrap_or(rest.len()).min(rest.len())].to_vec();
    Some(Reply {
        status,
        content_type,
        body,
    })
}

/// An HTTP/1.1 request with `Host` and `Connection: close`; `Content-Length` unless given.
fn request(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    let has_len = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut out = r.into_bytes();
    out.extend_from_slice(body);
    out
}

fn h(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

fn gh_signed(body: &[u8], delivery: &str) -> Vec<(String, String)> {
    signed(
        "github",
        GH,
        body,
        "",
        delivery,
        "push",
        hookgate_shared::clock::now_ms(),
    )
}

fn replace(headers: &[(String, String)], name: &str, new_name: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            if k.eq_ignore_ascii_case(name) {
                (new_name.to_owned(), v.clone())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

fn value_of(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap()
}

/// Every case: a name, the request bytes, and the 4xx it must get.
fn corpus() -> Vec<(&'static str, Vec<u8>, u16)> {
    let push = hookgate_shared::samples::github_push("hostile-1");
    let ok = gh_signed(&push, "hostile-1");
    let json = [h("Content-Type", "application/json")];
    let with = |extra: &[(String, String)]| -> Vec<(String, String)> {
        json.iter().chain(extra).cloned().collect()
    };
    let mut c: Vec<(&'static str, Vec<u8>, u16)> = Vec::new();

    // Sizes.
    c.push((
        "declared body over the limit",
        request(
            "POST",
            "/webhooks/github",
            &with(&[h("Content-Length", "10000000")]),
            b"",
        ),
        413,
    ));
    let mut chunked = request(
        "POST",
        "/webhooks/github",
        &with(&[h("Transfer-Encoding", "chunked")]),
        b"",
    );
    for _ in 0..(MAX_BODY / 4096 + 2) {
        chunked.extend_from_slice(format!("{:x}\r\n", 4096).as_bytes());
        chunked.extend_from_slice(&[b'a'; 4096]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    c.push(("chunked body over the limit", chunked, 413));
    c.push((
        "one huge header value",
        request(
            "POST",
            "/webhooks/github",
            &with(&[h("X-Padding", "x".repeat(200_000))]),
            &push,
        ),
        431,
    ));
    let many: Vec<(String, String)> = (0..300).map(|i| h(&format!("X-H{i}"), "v")).collect();
    c.push((
        "three hundred headers",
        request("POST", "/webhooks/github", &with(&many), &push),
        431,
    ));
    c.push((
        "huge signature header value",
        request(
            "POST",
            "/webhooks/github",
            &with(&[h(
                "X-Hub-Signature-256",
                format!("sha256={}", "ab".repeat(20_000)),
            )]),
            &push,
        ),
        401,
    ));

    // Truncated: 100 bytes declared, 40 sent, then the client half-closes.
    c.push((
        "truncated body",
        request(
            "POST",
            "/webhooks/github",
            &with(&[h("Content-Length", "100")]),
            &push[..40],
        ),
        400,
    ));

    // Signatures: missing, wrong, repeated, conflicting, lookalike names.
    c.push((
        "empty body, no headers",
        request("POST", "/webhooks/github", &[], b""),
        401,
    ));
    c.push((
        "valid signature, one body byte flipped",
        request("POST", "/webhooks/github", &with(&ok), &{
            let mut b = push.clone();
            b[10] ^= 1;
            b
        }),
        401,
    ));
    let sig = value_of(&ok, "X-Hub-Signature-256");
    let mut twice = with(&ok);
    twice.push(h("X-Hub-Signature-256", sig.clone()));
    c.push((
        "the valid signature header twice",
        request("POST", "/webhooks/github", &twice, &push),
        401,
    ));
    let mut conflicting = with(&ok);
    conflicting.push(h(
        "X-Hub-Signature-256",
        format!("sha256={}", "0".repeat(64)),
    ));
    c.push((
        "a valid and an invalid signature header",
        request("POST", "/webhooks/github", &conflicting, &push),
        401,
    ));
    let mut two_ids = with(&ok);
    two_ids.push(h("X-GitHub-Delivery", "another-delivery"));
    c.push((
        "two delivery ids",
        request("POST", "/webhooks/github", &two_ids, &push),
        401,
    ));
    for lookalike in [
        "X-Hub-Signature256",
        "X_Hub_Signature_256",
        "X-Hub-Signature-256x",
        "X-Hub-Signature",
    ] {
        c.push((
            "lookalike signature header name",
            request(
                "POST",
                "/webhooks/github",
                &with(&replace(&ok, "X-Hub-Signature-256", lookalike)),
                &push,
            ),
            401,
        ));
    }
    c.push((
        "signature with non-ASCII bytes",
        {
            let mut r = request("POST", "/webhooks/github", &with(&[]), b"");
            let tail = r.split_off(r.len() - 2);
            r.extend_from_slice(b"X-Hub-Signature-256: sha256=\xff\xfe\xfd\r\n");
            r.extend_from_slice(&tail);
            // Content-Length 0 was written: send no body.
            r
        },
        401,
    ));
    c.push((
        "non-UTF-8 body with a made-up signature",
        request(
            "POST",
            "/webhooks/github",
            &with(&[h(
                "X-Hub-Signature-256",
                format!("sha256={}", "1".repeat(64)),
            )]),
            &[0xff, 0xfe, 0x00, 0x80, 0xc3],
        ),
        401,
    ));
    c.push((
        "wrong content type, no signature",
        request(
            "POST",
            "/webhooks/github",
            &[h("Content-Type", "text/plain; charset=utf-16")],
            &push,
        ),
        401,
    ));
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    c.push((
        "deeply nested JSON, unsigned",
        request("POST", "/webhooks/github", &with(&[]), deep.as_bytes()),
        401,
    ));
    c.push((
        "stripe header garbage",
        request(
            "POST",
            "/webhooks/stripe",
            &with(&[h(
                "Stripe-Signature",
                "t=99999999999999999999999,v1=zz,,=,v1",
            )]),
            b"{}",
        ),
        401,
    ));
    let many_sigs: Vec<String> = (0..5_000).map(|i| format!("v1,{i:x}")).collect();
    c.push((
        "standard webhooks: thousands of signatures",
        request(
            "POST",
            "/webhooks/std",
            &with(&[
                h("webhook-id", "msg_1"),
                h(
                    "webhook-timestamp",
                    hookgate_shared::clock::now_ms().to_string(),
                ),
                h("webhook-signature", many_sigs.join(" ")),
            ]),
            b"{}",
        ),
        401,
    ));

    // Methods and paths.
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        c.push((
            "non-POST method",
            request(method, "/webhooks/github", &with(&ok), &push),
            405,
        ));
    }
    let long = format!("/webhooks/{}", "a".repeat(8_000));
    for path in [
        "/webhooks/../admin",
        "/webhooks/..%2f..%2fetc%2fpasswd",
        "/webhooks/%2e%2e",
        "/webhooks/github%00",
        "/webhooks/GitHub",
        "/webhooks/github/extra",
        "/webhooks/",
        "/webhooks",
        "/",
        long.as_str(),
    ] {
        c.push(("odd path", request("POST", path, &with(&ok), &push), 404));
    }
    c.push((
        "source that is not UTF-8",
        request("POST", "/webhooks/%ff%fe", &with(&ok), &push),
        400,
    ));
    c
}

#[test]
fn every_hostile_request_gets_a_json_4xx_and_the_store_stays_unchanged() {
    let stack = Stack::start_env(
        &config(),
        Backend::Sqlite,
        "info",
        &[
            ("HOOKGATE_HEADER_TIMEOUT", "2s"),
            ("HOOKGATE_BODY_TIMEOUT", "2s"),
        ],
    );
    let mut failures = Vec::new();
    let corpus = corpus();
    for (name, bytes, want) in &corpus {
        let started = Instant::now();
        let got = exchange(stack.addr, &[bytes], Duration::ZERO);
        let took = started.elapsed();
        let Some(r) = got else {
            failures.push(format!("{name}: no HTTP response"));
            continue;
        };
        let doc: Option<Value> = serde_json::from_slice(&r.body).ok();
        let reason = doc
            .as_ref()
            .and_then(|d| d["reason"].as_str())
            .unwrap_or("");
        if r.status != *want
            || !r.content_type.starts_with("application/json")
            || doc.as_ref().and_then(|d| d["error"].as_str()).is_none()
            || reason.is_empty()
        {
            failures.push(format!(
                "{name}: want {want} with a JSON reason, got {} {:?} {}",
                r.status,
                r.content_type,
                String::from_utf8_lossy(&r.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        if took > Duration::from_secs(5) {
            failures.push(format!("{name}: took {took:?}"));
        }
    }
    // A repeated signature header names the header and why.
    let push = hookgate_shared::samples::github_push("hostile-1");
    let ok = gh_signed(&push, "hostile-1");
    let mut twice = ok.clone();
    twice.push(h(
        "X-Hub-Signature-256",
        value_of(&ok, "X-Hub-Signature-256"),
    ));
    let r = exchange(
        stack.addr,
        &[&request("POST", "/webhooks/github", &twice, &push)],
        Duration::ZERO,
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256"),
        "{doc}"
    );

    // Slow clients: a silent connection is closed; slow headers are cut; a slow body gets 408.
    let started = Instant::now();
    let mut silent = TcpStream::connect(stack.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a silent connection gets no reply, only closed");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "silent connection held {:?}",
        started.elapsed()
    );

    let slow_head = request("POST", "/webhooks/github", &ok, &push);
    let head_end = slow_head.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let started = Instant::now();
    let pieces: Vec<&[u8]> = slow_head[..head_end].chunks(8).take(20).collect();
    let r = exchange(stack.addr, &pieces, Duration::from_millis(300));
    assert!(
        r.as_ref().is_none_or(|r| r.status >= 400 && r.status < 500),
        "slow headers: {:?}",
        r.map(|r| r.status)
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    let started = Instant::now();
    let body_pieces: Vec<&[u8]> = std::iter::once(&slow_head[..head_end + 4])
        .chain(push.chunks(64).take(15))
        .collect();
    let r = exchange(stack.addr, &body_pieces, Duration::from_millis(400)).expect("a reply");
    assert_eq!(r.status, 408, "{}", String::from_utf8_lossy(&r.body));
    let doc: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc["error"], "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(10));

    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing was stored; the stack is healthy and never panicked.
    assert!(stack.events(&[]).is_empty(), "the store changed");
    let health = exchange(
        stack.addr,
        &[b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(health.status, 200);
    assert!(!stack.all_logs().contains("panicked"));
    // And a correct delivery still goes through.
    let r = exchange(
        stack.addr,
        &[&request("POST", "/webhooks/github", &ok, &push)],
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(stack.events(&[]).len(), 1);
}
