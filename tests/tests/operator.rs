//! The operator's surface through its public interfaces, on both backends: the admin API under
//! `/admin/api` (bearer token), `/metrics`, `hookgate stats`, `hookgate events tail`, and
//! `hookgate config check|show`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hookgate_e2e::{Backend, Stack, hookgate_bin, post, send};
use serde_json::{Value, json};

const GH: &str = "gh-operator-secret";
const LONG: Duration = Duration::from_secs(40);

fn config(dir: &Path) -> String {
    hookgate_e2e::operator_config(dir, GH)
}

fn start(backend: Backend) -> (Stack, tempfile::TempDir) {
    let scripts = tempfile::tempdir().unwrap();
    let stack = Stack::start_on(&config(scripts.path()), backend);
    (stack, scripts)
}

fn id_of(v: &Value) -> String {
    v["event_id"].as_str().unwrap().to_owned()
}

async fn push(stack: &Stack, delivery: &str, git_ref: &str) -> String {
    let body = json!({ "ref": git_ref, "after": delivery }).to_string();
    let (s, v) = send(
        stack,
        "github",
        "github",
        GH,
        delivery,
        "push",
        body.as_bytes(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    id_of(&v)
}

/// Polls the admin API until the event has status `want`.
async fn wait_admin(stack: &Stack, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + LONG;
    loop {
        let (s, v) = stack
            .admin("GET", &format!("/admin/api/events/{id}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        if v["event"]["status"] == want {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never reached {want}: {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

macro_rules! behaviours {
    ($backend:expr) => {
        #[tokio::test]
        async fn the_admin_api_needs_the_token_and_answers_json_errors() {
            let (stack, _dir) = start($backend);
            let client = reqwest::Client::new();
            for auth in [None, Some("Bearer wrong-token-0123456789")] {
                let mut req = client.get(format!("{}/admin/api/events", stack.base()));
                if let Some(a) = auth {
                    req = req.header("authorization", a);
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status().as_u16(), 401);
                let v: Value = res.json().await.unwrap();
                assert_eq!(v["error"], "unauthorized", "{v}");
            }
            let (s, v) = stack
                .admin("GET", "/admin/api/events?status=exploded", None)
                .await;
            assert_eq!((s, v["error"].as_str()), (400, Some("invalid_filter")), "{v}");
            assert!(v["reason"].as_str().unwrap().contains("succeeded"), "{v}");
            let (s, v) = stack.admin("GET", "/admin/api/events?colour=red", None).await;
            assert_eq!(s, 400, "{v}");
            assert!(v["reason"].as_str().unwrap().contains("colour"), "{v}");
            let (s, v) = stack
                .admin("GET", "/admin/api/events?where=not%20a%20path", None)
                .await;
            assert_eq!(s, 400, "{v}");
            let (s, v) = stack
                .admin("GET", "/admin/api/events?cursor=garbage", None)
                .await;
            assert_eq!(s, 400, "{v}");
            let (s, v) = stack
                .admin("GET", "/admin/api/events/evt_nope", None)
                .await;
            assert_eq!(s, 400, "{v}");
            let missing = "evt_aaaaaaaaaaaaaaaaaaaaaaaaaa";
            let (s, v) = stack
                .admin("GET", &format!("/admin/api/events/{missing}"), None)
                .await;
            assert_eq!((s, v["error"].as_str()), (404, Some("not_found")), "{v}");
            let (s, _) = stack
                .admin("POST", &format!("/admin/api/events/{missing}/replay"), None)
                .await;
            assert_eq!(s, 404);
            let (s, v) = stack.admin("DELETE", "/admin/api/events", None).await;
            assert_eq!(s, 405, "{v}");
            let (s, v) = stack.admin("GET", "/admin/api/nothing-here", None).await;
            assert_eq!(s, 404, "{v}");
            let (s, v) = stack
                .admin("POST", "/admin/api/replay", Some(json!({"filter": {}})))
                .await;
            assert_eq!(s, 400, "{v}");
            assert!(v["reason"].as_str().unwrap().contains("all"), "{v}");
            let (s, v) = stack
                .admin("POST", "/admin/api/replay", Some(json!({"filter": {"sauce": "x"}})))
                .await;
            assert_eq!(s, 400, "{v}");
        }

        #[tokio::test]
        async fn the_admin_api_searches_pages_shows_and_replays() {
            let (stack, _dir) = start($backend);
            let main_a = push(&stack, "adm-1", "refs/heads/main").await;
            let feature = push(&stack, "adm-2", "refs/heads/feature").await;
            let main_b = push(&stack, "adm-3", "refs/heads/main").await;
            let (_, v) = send(&stack, "github", "github", GH, "adm-4", "broken", b"{}").await;
            let broken = id_of(&v);
            for id in [&main_a, &feature, &main_b] {
                wait_admin(&stack, id, "succeeded").await;
            }
            let failed = wait_admin(&stack, &broken, "failed").await;
            let attempt = &failed["attempt_log"][0];
            assert_eq!(attempt["handler"], "broken", "{failed:#}");
            assert_eq!(attempt["outcome"], "permanent");
            assert_eq!(attempt["exit_code"], 3);
            assert!(attempt["duration_ms"].is_u64());
            assert!(attempt["output"].as_str().unwrap().contains("bad input"));
            assert_eq!(failed["body"]["encoding"], "utf-8");

            // Stats: counts, success rate, latency of first-generation successes.
            let (s, st) = stack.admin("GET", "/admin/api/stats?since=1h", None).await;
            assert_eq!(s, 200, "{st}");
            assert_eq!(st["total"], 4, "{st}");
            assert_eq!(st["by_status"]["succeeded"], 3, "{st}");
            assert_eq!(st["by_source"]["github"]["failed"], 1, "{st}");
            assert_eq!(st["success_rate"], 0.75, "{st}");
            assert_eq!(st["latency_ms"]["count"], 3, "{st}");
            assert!(st["latency_ms"]["p50"].is_i64(), "{st}");
            // Search: status, event type, delivery id, and a payload field.
            let ids = |v: &Value| -> Vec<String> {
                v["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["event_id"].as_str().unwrap().to_owned())
                    .collect()
            };
            let (_, v) = stack
                .admin("GET", "/admin/api/events?status=failed&source=github", None)
                .await;
            assert_eq!(ids(&v), vec![broken.clone()]);
            let (_, v) = stack
                .admin("GET", "/admin/api/events?delivery_id=adm-2&since=1h", None)
                .await;
            assert_eq!(ids(&v), vec![feature.clone()]);
            let (_, v) = stack
                .admin(
                    "GET",
                    "/admin/api/events?where=%24.ref%20%3D%3D%20%22refs%2Fheads%2Fmain%22",
                    None,
                )
                .await;
            let mut got = ids(&v);
            got.sort();
            let mut want = vec![main_a.clone(), main_b.clone()];
            want.sort();
            assert_eq!(got, want, "{v}");

            // Cursor paging: one at a time, every event once.
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!(
                        "/admin/api/events?limit=1&cursor={}",
                        url_encode(c)
                    ),
                    None => "/admin/api/events?limit=1".to_owned(),
                };
                let (s, v) = stack.admin("GET", &path, None).await;
                assert_eq!(s, 200, "{v}");
                seen.extend(ids(&v));
                match v["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
                assert!(seen.len() <= 4, "paging never ends: {seen:?}");
            }
            seen.sort();
            let mut all = vec![main_a.clone(), feature.clone(), main_b.clone(), broken.clone()];
            all.sort();
            assert_eq!(seen, all);

            // Replay one.
            let (s, v) = stack
                .admin("POST", &format!("/admin/api/events/{broken}/replay"), None)
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["result"]["result"], "replayed", "{v}");
            assert_eq!(v["result"]["generation"], 2);
            let again = wait_admin(&stack, &broken, "failed").await;
            assert_eq!(again["event"]["generation"], 2);

            // Replay by filter: the dry run counts, the run replays exactly those.
            let filter = json!({"filter": {"source": "github", "event_type": "push"}, "dry_run": true});
            let (s, v) = stack.admin("POST", "/admin/api/replay", Some(filter)).await;
            assert_eq!((s, v["matched"].as_u64(), v["replayed"].as_u64()), (200, Some(3), Some(0)), "{v}");
            let (_, v) = stack
                .admin("POST", "/admin/api/replay", Some(json!({"filter": {"source": "github", "event_type": "push"}})))
                .await;
            assert_eq!((v["matched"].as_u64(), v["replayed"].as_u64()), (Some(3), Some(3)), "{v}");
            for id in [&main_a, &feature, &main_b] {
                let deadline = Instant::now() + LONG;
                loop {
                    let e = wait_admin(&stack, id, "succeeded").await;
                    if e["event"]["processed_generation"] == 2 {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{e:#}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }

            let (s, c) = stack.admin("GET", "/admin/api/config", None).await;
            assert_eq!(s, 200, "{c}");
            assert_eq!(c["sources"][0]["name"], "github");
            assert!(!c.to_string().contains(GH), "a secret in the config: {c}");
        }

        #[tokio::test]
        async fn the_admin_api_lists_and_redrives_the_dlq() {
            let (stack, dir) = start($backend);
            let (_, v) = send(&stack, "github", "github", GH, "dlq-1", "doomed", b"{}").await;
            let id = id_of(&v);
            wait_admin(&stack, &id, "dead").await;
            let deadline = Instant::now() + LONG;
            loop {
                let (s, v) = stack.admin("GET", "/admin/api/dlq?limit=10", None).await;
                assert_eq!(s, 200, "{v}");
                let msgs = v["messages"].as_array().unwrap();
                if let Some(m) = msgs.iter().find(|m| m["event_id"] == id.as_str()) {
                    assert_eq!(m["status"], "dead", "{m}");
                    assert_eq!(m["source"], "github");
                    break;
                }
                assert!(Instant::now() < deadline, "never in the DLQ: {v}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            std::fs::write(dir.path().join("fixed"), "").unwrap();
            let (s, v) = stack.admin("POST", "/admin/api/dlq/redrive", None).await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["moved"], 1, "{v}");
            wait_admin(&stack, &id, "succeeded").await;
        }

        #[tokio::test]
        async fn metrics_count_what_happened_with_bounded_labels() {
            let (stack, _dir) = start($backend);
            let id = push(&stack, "m-1", "refs/heads/main").await;
            let body = json!({"ref": "refs/heads/main"}).to_string();
            let (s, _) = send(&stack, "github", "github", GH, "m-1", "push", body.as_bytes()).await;
            assert_eq!(s, 200);
            let (s, _) = send(&stack, "github", "github", "not-the-secret", "m-2", "push", b"{}").await;
            assert_eq!(s, 401);
            let (s, _) = post(&stack.url("github"), &[], b"{}".to_vec()).await;
            assert_eq!(s, 401);
            wait_admin(&stack, &id, "succeeded").await;
            let (_, v) = send(&stack, "github", "github", GH, "m-3", "doomed", b"{}").await;
            wait_admin(&stack, &id_of(&v), "dead").await;
            stack
                .admin("POST", &format!("/admin/api/events/{id}/replay"), None)
                .await;
            let text = reqwest::get(format!("{}/metrics", stack.base()))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let value = |series: &str| -> f64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
                    .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
                    .parse()
                    .unwrap()
            };
            assert_eq!(value("hookgate_received_total{source=\"github\"}"), 2.0);
            assert_eq!(value("hookgate_duplicate_total{source=\"github\"}"), 1.0);
            assert_eq!(
                value("hookgate_rejected_total{reason=\"unauthorized\",source=\"github\"}"),
                2.0
            );
            assert!(value("hookgate_processed_total{outcome=\"succeeded\",source=\"github\"}") >= 1.0);
            assert_eq!(value("hookgate_processed_total{outcome=\"dead\",source=\"github\"}"), 1.0);
            assert!(value("hookgate_retries_total{source=\"github\"}") >= 1.0);
            assert_eq!(value("hookgate_dead_total{source=\"github\"}"), 1.0);
            assert_eq!(value("hookgate_replayed_total{source=\"github\"}"), 1.0);
            assert!(value("hookgate_handler_duration_ms_count{source=\"github\"}") >= 3.0);
            assert!(value("hookgate_end_to_end_latency_ms_count{source=\"github\"}") >= 1.0);
            assert!(text.contains("hookgate_queue_depth{queue=\"main\"}"));
            assert!(text.contains("hookgate_queue_oldest_age_seconds{queue=\"dlq\"}"));
            // Labels are names and codes: no error text, no ids.
            assert!(!text.contains("downstream down"));
            assert!(!text.contains("evt_"));
        }

        #[tokio::test]
        async fn stats_and_tail_from_the_cli() {
            let (stack, _dir) = start($backend);
            // The tail starts first, then sees the event arrive and finish.
            let mut tail = Command::new(hookgate_bin());
            tail.args(["events", "tail", "-o", "json", "--interval", "200ms", "--max-lines", "1"]);
            let mut child = stack_cmd(&stack, tail).stdout(Stdio::piped()).spawn().unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let id = push(&stack, "t-1", "refs/heads/main").await;
            let stdout = child.stdout.take().unwrap();
            let line = tokio::task::spawn_blocking(move || {
                BufReader::new(stdout).lines().next().unwrap().unwrap()
            });
            let line = tokio::time::timeout(LONG, line).await.expect("tail printed nothing").unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["change"], "new", "{v}");
            assert_eq!(v["event"]["event_id"], id.as_str(), "{v}");
            assert!(child.wait().unwrap().success());
            wait_admin(&stack, &id, "succeeded").await;
            // With a look-back and colour forced: the event, green.
            let out = stack.cli(&[
                "events", "tail", "--lookback", "10m", "--max-lines", "1", "--color", "always",
            ]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&id) && text.contains("\x1b[32msucceeded"), "{text:?}");

            let out = stack.cli(&["stats", "--since", "1h", "-o", "json"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let st: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(st["total"], 1, "{st}");
            assert_eq!(st["by_source"]["github"]["succeeded"], 1, "{st}");
            assert_eq!(st["success_rate"], 1.0);
            assert!(st["latency_ms"]["p99"].is_i64(), "{st}");
            let out = stack.cli(&["stats"]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("success rate: 100.0 %") && text.contains("p50"), "{text}");
        }
    };
}

/// Runs a command with the stack's backend flags (like `Stack::cli`, for a child we stream).
fn stack_cmd(stack: &Stack, mut cmd: Command) -> Command {
    let probe = stack.cli_command();
    for (k, v) in probe.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.args(probe.get_args());
    cmd
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

mod sqlite {
    use super::*;
    behaviours!(Backend::Sqlite);
}

mod aws {
    use super::*;
    behaviours!(Backend::Aws);
}

#[test]
fn config_check_names_every_problem_and_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[queue]\nmax_receive_count = 0\n\n[[sources]]\nname = \"github\"\nprovider = \"gitbub\"\nsecrets = [\"x\"]\n\n[[routes]]\nsource = \"nowhere\"\nhandlers = [\"missing\"]\n",
    )
    .unwrap();
    let out = Command::new(hookgate_bin())
        .args(["config", "check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for want in ["line 6", "gitbub", "routes[0]", "nowhere"] {
        assert!(err.contains(want), "missing {want:?} in {err}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[[sources]]\nname = \"github\"\nprovider = \"github\"\nsecrets = [\"{GH}\", \"env:GH_OLD\"]\n\n[[routes]]\nsource = \"github\"\nhandlers = [\"fwd\"]\n\n[handlers.fwd]\nkind = \"forward\"\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"whsec_c2VjcmV0LXNob3VsZC1ub3Qtc2hvdw==\"\nheaders = {{ authorization = \"Bearer hidden-token\" }}\n"
        ),
    )
    .unwrap();
    let out = Command::new(hookgate_bin())
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(hookgate_bin())
        .args(["config", "show", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("env:GH_OLD"), "{shown}");
    for secret in [GH, "c2VjcmV0LXNob3VsZC1ub3Qtc2hvdw", "hidden-token"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
}
