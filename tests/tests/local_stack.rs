//! The local stack's behaviour through its public interfaces: HTTP and the `hookgate` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use hookgate_e2e::{Backend, Stack, hookgate_bin, post, script, send, signed};
use serde_json::Value;

const GH: &str = "gh-test-secret";
const STRIPE: &str = "whsec_test_stripe";
const SW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A config whose handlers are shell scripts in `dir` that log every successful run to runs.log.
fn config(dir: &Path) -> String {
    let runs = dir.join("runs.log");
    let runs = runs.display();
    let record = script(
        dir,
        "record.sh",
        &format!("echo \"$HOOKGATE_EVENT_ID $HOOKGATE_GENERATION\" >> {runs}"),
    );
    let flaky = script(
        dir,
        "flaky.sh",
        &format!(
            "f={d}/count.$HOOKGATE_EVENT_ID\nn=$(cat $f 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > $f\nif [ $n -le \"$1\" ]; then echo \"not yet ($n)\" >&2; exit 75; fi\necho \"$HOOKGATE_EVENT_ID $HOOKGATE_GENERATION\" >> {runs}",
            d = dir.display()
        ),
    );
    let doomed = script(
        dir,
        "doomed.sh",
        &format!(
            "if [ -f {d}/fixed ]; then echo \"$HOOKGATE_EVENT_ID $HOOKGATE_GENERATION\" >> {runs}; exit 0; fi\necho 'downstream down' >&2\nexit 75",
            d = dir.display()
        ),
    );
    let broken = script(
        dir,
        "broken.sh",
        &format!(
            "if [ -f {d}/fixed ]; then echo \"$HOOKGATE_EVENT_ID $HOOKGATE_GENERATION\" >> {runs}; exit 0; fi\necho 'bad input' >&2\nexit 1",
            d = dir.display()
        ),
    );
    format!(
        r#"
[ingest]
max_body_bytes = 65536

[queue]
max_receive_count = 3
visibility_timeout = "5s"

[retry]
backoff_base = "1s"
backoff_max = "1s"

[sweep]
interval = "1s"
older_than = "2s"

[[sources]]
name = "github"
provider = "github"
secrets = ["{GH}"]

[[sources]]
name = "stripe"
provider = "stripe"
secrets = ["{STRIPE}"]

[[sources]]
name = "sw"
provider = "standard-webhooks"
secrets = ["{SW}"]

[[sources]]
name = "jobs"
provider = "github"
secrets = ["{GH}"]

[[routes]]
source = "github"
handlers = ["record"]

[[routes]]
source = "stripe"
events = ["invoice.*"]
handlers = ["record"]

[[routes]]
source = "sw"
handlers = ["record"]

[[routes]]
source = "jobs"
events = ["flaky"]
handlers = ["flaky"]

[[routes]]
source = "jobs"
events = ["doomed"]
handlers = ["doomed"]

[[routes]]
source = "jobs"
events = ["broken"]
handlers = ["broken"]

[[routes]]
source = "jobs"
events = ["ok"]
handlers = ["record"]

[handlers.record]
kind = "exec"
command = ["{record}"]
timeout = "10s"

[handlers.flaky]
kind = "exec"
command = ["{flaky}"]
args = ["$.fails"]
timeout = "10s"

[handlers.doomed]
kind = "exec"
command = ["{doomed}"]
timeout = "10s"

[handlers.broken]
kind = "exec"
command = ["{broken}"]
timeout = "10s"
"#,
        record = record.display(),
        flaky = flaky.display(),
        doomed = doomed.display(),
        broken = broken.display(),
    )
}

fn start(backend: Backend) -> (Stack, tempfile::TempDir) {
    let scripts = tempfile::tempdir().unwrap();
    let stack = Stack::start_on(&config(scripts.path()), backend);
    (stack, scripts)
}

/// Successful handler runs of an event: lines "<event_id> <generation>" in runs.log.
fn runs(dir: &Path, event_id: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(event_id))
        .map(str::to_owned)
        .collect()
}

fn id_of(v: &Value) -> String {
    v["event_id"].as_str().unwrap().to_owned()
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn a_malformed_config_stops_serve_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[queue]\nmax_receive_count = 5\n\n[[sources]]\nname = \"github\"\nprovider = \"gitbub\"\nsecrets = [\"x\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(hookgate_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6") && err.contains("sources[0].provider") && err.contains("gitbub"),
        "{err}"
    );
}

/// `hookgate` allocates with mimalloc (`cli/src/main.rs`: under `serve`'s load, glibc's
/// allocator took a quarter of the request threads' time). mimalloc reports its start when asked
/// to; without the global allocator the linker drops it and nothing is reported.
#[test]
fn hookgate_allocates_with_mimalloc() {
    let out = std::process::Command::new(hookgate_bin())
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mimalloc: process init"), "{err}");
}

/// Every behaviour, written once, run on each backend `serve` supports.
macro_rules! behaviours {
    ($backend:expr) => {
        #[tokio::test]
        async fn deliveries_signed_by_three_providers_are_accepted_then_succeed() {
            let (mut stack, dir) = start($backend);
            let push = hookgate_shared::samples::github_push("d-1");
            let (s, gh) = send(&stack, "github", "github", GH, "d-1", "push", &push).await;
            assert_eq!((s, gh["status"].as_str()), (202, Some("accepted")), "{gh}");
            let (_, stripe_body) = hookgate_shared::samples::sample("stripe", "evt_1");
            let (s, st) = send(&stack, "stripe", "stripe", STRIPE, "", "", &stripe_body).await;
            assert_eq!((s, st["status"].as_str()), (202, Some("accepted")), "{st}");
            let (_, sw_body) = hookgate_shared::samples::sample("standard-webhooks", "msg_1");
            let (s, sw) = send(&stack, "sw", "standard-webhooks", SW, "msg_1", "", &sw_body).await;
            assert_eq!((s, sw["status"].as_str()), (202, Some("accepted")), "{sw}");

            for (v, ty, delivery) in [
                (&gh, "push", "d-1"),
                (&st, "invoice.paid", "evt_1"),
                (&sw, "user.created", "msg_1"),
            ] {
                let e = stack.wait_status(&id_of(v), "succeeded", LONG);
                assert_eq!(e["event"]["event_type"], ty);
                assert_eq!(e["event"]["delivery_id"], delivery);
                assert_eq!(e["event"]["attempts"], 1);
                assert_eq!(e["event"]["secret_label"], "secret-1");
                assert_eq!(runs(dir.path(), &id_of(v)).len(), 1);
            }
            // The stored body is the exact bytes received.
            let e = stack.event(&id_of(&gh));
            assert_eq!(e["body"]["text"].as_str().unwrap().as_bytes(), &push[..]);
            assert!(stack.terminate(), "graceful shutdown should exit 0");
        }

        #[tokio::test]
        async fn ingest_only_stores_and_queues_and_a_later_serve_processes() {
            let scripts = tempfile::tempdir().unwrap();
            let mut stack = hookgate_e2e::Stack::start_env(
                &config(scripts.path()),
                $backend,
                "info",
                &[("HOOKGATE_INGEST_ONLY", "1")],
            );
            let mut ids = Vec::new();
            for d in ["io-1", "io-2", "io-3"] {
                let body = hookgate_shared::samples::github_push(d);
                let (s, v) = send(&stack, "github", "github", GH, d, "push", &body).await;
                assert_eq!((s, v["status"].as_str()), (202, Some("accepted")), "{v}");
                ids.push(id_of(&v));
            }
            // Long enough for a processor loop to have taken them, had one run.
            tokio::time::sleep(Duration::from_secs(3)).await;
            for id in &ids {
                assert_eq!(stack.event(id)["event"]["status"], "received");
                assert!(runs(scripts.path(), id).is_empty());
            }
            let health = stack.health().await;
            assert_eq!(health["queue"]["visible"], 3, "{health}");
            assert_eq!(health["processing"], "off", "{health}");
            assert!(stack.terminate(), "graceful shutdown should exit 0");

            // The same store, processing on: each queued event runs once.
            stack.set_env("HOOKGATE_INGEST_ONLY", None);
            stack.restart();
            for id in &ids {
                stack.wait_status(id, "succeeded", LONG);
                assert_eq!(runs(scripts.path(), id).len(), 1);
            }
            let health = stack.health().await;
            assert_eq!(health["processing"], "on", "{health}");
        }

        #[tokio::test]
        async fn the_same_delivery_again_is_a_duplicate_and_runs_nothing() {
            let (stack, dir) = start($backend);
            let body = hookgate_shared::samples::github_push("dup-1");
            let (s1, a) = send(&stack, "github", "github", GH, "dup-1", "push", &body).await;
            let (s2, b) = send(&stack, "github", "github", GH, "dup-1", "push", &body).await;
            assert_eq!(s1, 202);
            assert_eq!((s2, b["status"].as_str()), (200, Some("duplicate")), "{b}");
            assert_eq!(a["event_id"], b["event_id"]);
            stack.wait_status(&id_of(&a), "succeeded", LONG);
            let (s3, c) = send(&stack, "github", "github", GH, "dup-1", "push", &body).await;
            assert_eq!((s3, c["status"].as_str()), (200, Some("duplicate")));
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(
                runs(dir.path(), &id_of(&a)).len(),
                1,
                "a duplicate must not run handlers again"
            );
            assert_eq!(stack.events(&[]).len(), 1);
        }

        #[tokio::test]
        async fn bad_requests_get_clear_errors_and_store_nothing() {
            let (stack, _dir) = start($backend);
            let url = stack.url("github");
            let body = hookgate_shared::samples::github_push("bad-1");
            let now = hookgate_shared::clock::now_ms();

            // Wrong secret.
            let h = signed(
                "github",
                "not-the-secret",
                &body,
                &url,
                "bad-1",
                "push",
                now,
            );
            let (s, v) = post(&url, &h, body.clone()).await;
            assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{v}");
            assert!(
                v["reason"].as_str().unwrap().contains("does not match"),
                "{v}"
            );

            // Missing signature header.
            let (s, v) = post(
                &url,
                &[("X-GitHub-Delivery".into(), "bad-2".into())],
                body.clone(),
            )
            .await;
            assert_eq!(s, 401);
            assert!(
                v["reason"]
                    .as_str()
                    .unwrap()
                    .contains("x-hub-signature-256"),
                "{v}"
            );

            // A body byte flipped after signing.
            let mut tampered = body.clone();
            tampered[10] ^= 1;
            let (s, _) = post(&url, &h, tampered).await;
            assert_eq!(s, 401);

            // Stale Stripe timestamp (10 minutes old).
            let surl = stack.url("stripe");
            let (_, sb) = hookgate_shared::samples::sample("stripe", "evt_stale");
            let sh = signed("stripe", STRIPE, &sb, &surl, "", "", now - 600_000);
            let (s, v) = post(&surl, &sh, sb).await;
            assert_eq!(s, 401);
            assert!(v["reason"].as_str().unwrap().contains("tolerance"), "{v}");

            // Unknown source, too large, wrong method.
            let (s, v) = post(&stack.url("nope"), &[], b"{}".to_vec()).await;
            assert_eq!((s, v["error"].as_str()), (404, Some("not_found")), "{v}");
            let big = vec![b'a'; 70_000];
            let hb = signed("github", GH, &big, &url, "big", "push", now);
            let (s, v) = post(&url, &hb, big).await;
            assert_eq!(
                (s, v["error"].as_str()),
                (413, Some("payload_too_large")),
                "{v}"
            );
            let res = reqwest::get(&url).await.unwrap();
            assert_eq!(res.status().as_u16(), 405);
            assert_eq!(res.headers()["allow"], "POST");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"], "method_not_allowed");

            assert!(
                stack.events(&[]).is_empty(),
                "nothing may be stored for rejected requests"
            );
        }

        #[tokio::test]
        async fn a_transient_failure_is_retried_until_it_succeeds() {
            let (stack, dir) = start($backend);
            let body = br#"{"fails": 2}"#;
            let (s, v) = send(&stack, "jobs", "github", GH, "flaky-1", "flaky", body).await;
            assert_eq!(s, 202);
            let e = stack.wait_status(&id_of(&v), "succeeded", LONG);
            assert_eq!(e["event"]["attempts"], 3, "{e:#}");
            let outcomes: Vec<&str> = e["attempt_log"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["outcome"].as_str().unwrap())
                .collect();
            assert_eq!(outcomes, ["transient", "transient", "succeeded"]);
            assert_eq!(e["attempt_log"][0]["exit_code"], 75);
            assert!(
                e["attempt_log"][0]["output"]
                    .as_str()
                    .unwrap()
                    .contains("not yet")
            );
            assert_eq!(runs(dir.path(), &id_of(&v)).len(), 1);
        }

        #[tokio::test]
        async fn always_failing_goes_dead_into_the_dlq_and_redrive_processes_it_once() {
            let (stack, dir) = start($backend);
            let (_, v) = send(&stack, "jobs", "github", GH, "doomed-1", "doomed", b"{}").await;
            let id = id_of(&v);
            let e = stack.wait_status(&id, "dead", LONG);
            assert_eq!(e["event"]["attempts"], 3);
            assert!(
                e["event"]["last_error"]
                    .as_str()
                    .unwrap()
                    .contains("doomed"),
                "{e:#}"
            );
            // The message reaches the DLQ on the queue's next receive.
            let deadline = std::time::Instant::now() + LONG;
            loop {
                let out = stack.cli(&["dlq", "list", "-o", "json"]);
                let list: Value = serde_json::from_slice(&out.stdout).unwrap();
                if list["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["event_id"] == id.as_str())
                {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "never in the DLQ: {list}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            std::fs::write(dir.path().join("fixed"), "").unwrap();
            let out = stack.cli(&["dlq", "redrive", "-o", "json"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["moved"], 1, "{report}");
            let e = stack.wait_status(&id, "succeeded", LONG);
            assert_eq!(e["event"]["generation"], 1);
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(runs(dir.path(), &id), vec![format!("{id} 1")]);
            let out = stack.cli(&["dlq", "list", "-o", "json"]);
            let list: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(list["messages"].as_array().unwrap().is_empty(), "{list}");
        }

        #[tokio::test]
        async fn a_permanent_failure_is_not_retried_and_replay_runs_it_once_more() {
            let (stack, dir) = start($backend);
            let (_, v) = send(&stack, "jobs", "github", GH, "broken-1", "broken", b"{}").await;
            let id = id_of(&v);
            let e = stack.wait_status(&id, "failed", LONG);
            assert_eq!(e["attempt_log"][0]["exit_code"], 1, "{e}");
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert_eq!(
                stack.event(&id)["event"]["attempts"],
                1,
                "a permanent failure must not be retried"
            );

            std::fs::write(dir.path().join("fixed"), "").unwrap();
            let out = stack.cli(&["replay", &id, "-o", "json"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let e = stack.wait_status(&id, "succeeded", LONG);
            assert_eq!(e["event"]["generation"], 2);
            assert!(
                e["event"]["replay_run_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("rpl_")
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(runs(dir.path(), &id), vec![format!("{id} 2")]);
        }

        #[tokio::test]
        async fn bulk_replay_by_filter_counts_first_then_replays_each_once() {
            let (stack, dir) = start($backend);
            let mut ids = Vec::new();
            for i in 0..3 {
                let (_, v) = send(
                    &stack,
                    "jobs",
                    "github",
                    GH,
                    &format!("br-{i}"),
                    "broken",
                    b"{}",
                )
                .await;
                ids.push(id_of(&v));
            }
            let (_, ok) = send(&stack, "jobs", "github", GH, "br-ok", "ok", b"{}").await;
            for id in &ids {
                stack.wait_status(id, "failed", LONG);
            }
            stack.wait_status(&id_of(&ok), "succeeded", LONG);
            let out = stack.cli(&[
                "replay",
                "--source",
                "jobs",
                "--status",
                "failed",
                "--dry-run",
                "-o",
                "json",
            ]);
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                (report["matched"].as_u64(), report["replayed"].as_u64()),
                (Some(3), Some(0)),
                "{report}"
            );
            std::fs::write(dir.path().join("fixed"), "").unwrap();
            let out = stack.cli(&[
                "replay", "--source", "jobs", "--status", "failed", "--rate", "50", "-o", "json",
            ]);
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["replayed"], 3, "{report}");
            for id in &ids {
                stack.wait_status(id, "succeeded", LONG);
                assert_eq!(runs(dir.path(), id), vec![format!("{id} 2")]);
            }
            assert_eq!(
                runs(dir.path(), &id_of(&ok)).len(),
                1,
                "the unmatched event must not be replayed"
            );
            let out = stack.cli(&["replay", "--dry-run"]);
            assert!(
                !out.status.success(),
                "an empty filter without --all must be refused"
            );
        }

        #[tokio::test]
        async fn one_failing_record_in_a_batch_is_the_only_one_retried() {
            let (stack, dir) = start($backend);
            let (a, b) = tokio::join!(
                send(
                    &stack,
                    "jobs",
                    "github",
                    GH,
                    "mix-flaky",
                    "flaky",
                    br#"{"fails": 1}"#
                ),
                send(&stack, "jobs", "github", GH, "mix-ok", "ok", b"{}"),
            );
            let flaky = stack.wait_status(&id_of(&a.1), "succeeded", LONG);
            let ok = stack.wait_status(&id_of(&b.1), "succeeded", LONG);
            assert_eq!(flaky["event"]["attempts"], 2);
            assert_eq!(ok["event"]["attempts"], 1);
            assert_eq!(runs(dir.path(), &id_of(&b.1)).len(), 1);
        }

        #[tokio::test]
        async fn kill_9_mid_load_loses_nothing_that_got_a_2xx() {
            let (mut stack, _dir) = start($backend);
            let total = 300;
            let mut accepted: std::collections::BTreeSet<String> =
                std::collections::BTreeSet::new();
            let mut pending: Vec<usize> = (0..total).collect();
            let mut killed = false;
            while !pending.is_empty() {
                let batch: Vec<usize> = pending.drain(..pending.len().min(50)).collect();
                let mut tasks = Vec::new();
                for i in batch {
                    let url = stack.url("github");
                    tasks.push(tokio::spawn(async move {
                        let body = hookgate_shared::samples::github_push(&format!("k-{i}"));
                        let h = signed(
                            "github",
                            GH,
                            &body,
                            &url,
                            &format!("k-{i}"),
                            "push",
                            hookgate_shared::clock::now_ms(),
                        );
                        let client = reqwest::Client::new();
                        let mut req = client.post(&url).body(body);
                        for (k, v) in h {
                            req = req.header(k, v);
                        }
                        match req.send().await {
                            Ok(r) if r.status().is_success() => {
                                let v: Value = r.json().await.unwrap();
                                (i, Some(v["event_id"].as_str().unwrap().to_owned()))
                            }
                            Ok(r) if r.status().as_u16() >= 500 || r.status().as_u16() == 0 => {
                                (i, None::<String>)
                            }
                            Ok(r) => {
                                panic!("unexpected status {} for delivery {i}", r.status())
                            }
                            Err(_) => (i, None::<String>),
                        }
                    }));
                }
                if !killed && accepted.len() >= total / 3 {
                    // Kill while this batch is in flight, then restart on the same data dir.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    stack.kill9();
                    killed = true;
                    for t in tasks {
                        let (i, id) = t.await.unwrap();
                        match id {
                            Some(id) => {
                                accepted.insert(id);
                            }
                            None => pending.push(i), // the provider retries later
                        }
                    }
                    stack.restart();
                    continue;
                }
                for t in tasks {
                    let (i, id) = t.await.unwrap();
                    match id {
                        Some(id) => {
                            accepted.insert(id);
                        }
                        None => pending.push(i),
                    }
                }
            }
            assert!(killed);
            assert_eq!(
                accepted.len(),
                total,
                "every delivery is eventually accepted once retried"
            );
            for id in &accepted {
                stack.wait_status(id, "succeeded", Duration::from_secs(60));
            }
        }

        #[tokio::test]
        async fn no_log_line_holds_a_secret_or_a_payload() {
            let scripts = tempfile::tempdir().unwrap();
            let mut stack = Stack::start_logging(&config(scripts.path()), $backend, "debug");
            let marker = "PAYLOAD-MARKER-7f3a9c";
            let body = format!(r#"{{"fails": 1, "note": "{marker}"}}"#).into_bytes();
            let (_, v) = send(&stack, "jobs", "github", GH, "log-1", "flaky", &body).await;
            let push = hookgate_shared::samples::github_push(marker);
            send(&stack, "github", "github", GH, "log-2", "push", &push).await;
            let (_, sb) = hookgate_shared::samples::sample("stripe", "evt_logs");
            send(&stack, "stripe", "stripe", STRIPE, "", "", &sb).await;
            let (_, swb) = hookgate_shared::samples::sample("standard-webhooks", marker);
            send(&stack, "sw", "standard-webhooks", SW, "msg_logs", "", &swb).await;
            // Rejected ones too: a wrong signature and a wrong secret.
            let url = stack.url("github");
            let h = signed(
                "github",
                "wrong-secret",
                &push,
                &url,
                "log-3",
                "push",
                hookgate_shared::clock::now_ms(),
            );
            post(&url, &h, push.clone()).await;
            stack.wait_status(&id_of(&v), "succeeded", LONG);
            let out = stack.cli(&["replay", &id_of(&v)]);
            assert!(out.status.success());
            stack.wait_status(&id_of(&v), "succeeded", LONG);
            assert!(stack.terminate());
            let logs = stack.all_logs();
            assert!(
                logs.lines().count() > 20,
                "the run should have logged: {logs}"
            );
            // Lines are written by a thread of their own; a clean exit writes out its queue, so
            // the last line is serve's own last word.
            let last: serde_json::Value =
                serde_json::from_str(logs.lines().last().unwrap_or_default()).unwrap_or_default();
            assert_eq!(last["fields"]["message"], "stopped", "{logs}");
            for secret in [GH, STRIPE, SW, "wrong-secret"] {
                assert!(!logs.contains(secret), "a secret reached the logs");
            }
            assert!(!logs.contains(marker), "a payload reached the logs");
            assert!(
                !logs.contains("refs/heads/main"),
                "a payload field reached the logs"
            );
        }
    };
}

/// `hookgate serve` on the embedded SQLite data dir.
mod sqlite {
    use super::*;
    behaviours!(Backend::Sqlite);
}

/// `hookgate serve --backend aws` on DynamoDB + SQS (moto server), provisioned by `hookgate aws init`.
mod aws {
    use super::*;
    behaviours!(Backend::Aws);
}
