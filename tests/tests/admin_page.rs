//! The admin page in a real browser: headless Debian Chromium, driven by Playwright
//! (`tests/browser/admin_page.mjs`), through sign-in → list → detail → replay → bulk replay → DLQ
//! redrive on the local stack. Screenshots go to `target/admin-page/`.
//!
//! Installs what it needs when missing: Chromium via `scripts/chromium.sh` (apt-get), and
//! `playwright-core` via npm into `tests/browser/node_modules`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hookgate_e2e::{ADMIN_TOKEN, Stack, send, workspace_root};
use hookgate_shared::model::{DeliveryId, EventId, SourceName};
use serde_json::{Value, json};

const GH: &str = "gh-browser-secret";

fn config(dir: &Path) -> String {
    hookgate_e2e::operator_config(dir, GH)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Chromium and playwright-core, installed when missing.
fn ensure_browser() {
    let root = workspace_root();
    let st = Command::new("bash")
        .arg(root.join("scripts/chromium.sh"))
        .status()
        .expect("run scripts/chromium.sh");
    assert!(st.success(), "scripts/chromium.sh failed");
    let browser = root.join("tests/browser");
    if !browser.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&browser)
            .status()
            .expect("run npm install");
        assert!(st.success(), "npm install in tests/browser failed");
    }
}

async fn wait_status(stack: &Stack, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, v) = stack
            .admin("GET", &format!("/admin/api/events/{id}"), None)
            .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_works_in_headless_chromium() {
    ensure_browser();
    let scripts = tempfile::tempdir().unwrap();
    let stack = Stack::start(&config(scripts.path()));

    let body = |r: &str| json!({ "ref": r, "after": "0000000" }).to_string();
    let (s, v) = send(
        &stack,
        "github",
        "github",
        GH,
        "b-1",
        "push",
        body("refs/heads/main").as_bytes(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let ok_id = v["event_id"].as_str().unwrap().to_owned();
    let (_, v) = send(
        &stack,
        "github",
        "github",
        GH,
        "b-2",
        "broken",
        body("refs/heads/broken").as_bytes(),
    )
    .await;
    let failed_id = v["event_id"].as_str().unwrap().to_owned();
    let (_, v) = send(&stack, "github", "github", GH, "b-3", "doomed", b"{}").await;
    let dead_id = v["event_id"].as_str().unwrap().to_owned();
    wait_status(&stack, &ok_id, "succeeded").await;
    wait_status(&stack, &failed_id, "failed").await;
    wait_status(&stack, &dead_id, "dead").await;
    // The dead event's message reaches the DLQ on the queue's next receive.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = stack.admin("GET", "/admin/api/dlq", None).await;
        if v["messages"].as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "never in the DLQ: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The downstream is fixed before the page redrives the DLQ.
    std::fs::write(scripts.path().join("fixed"), "").unwrap();
    let late_delivery = "b-late";
    let late_id = EventId::derive(
        &SourceName::parse("github").unwrap(),
        &DeliveryId::parse(late_delivery).unwrap(),
    )
    .to_string();

    let shots = target_dir().join("admin-page");
    let mut child = Command::new("node")
        .arg(workspace_root().join("tests/browser/admin_page.mjs"))
        .args([&stack.base(), ADMIN_TOKEN])
        .arg(&shots)
        .args([&failed_id, &dead_id, &late_id])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run node (tests/browser/admin_page.mjs)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("browser: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sent_late = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if line == "LIST-READY" && !sent_late {
                    let (s, v) = send(
                        &stack,
                        "github",
                        "github",
                        GH,
                        late_delivery,
                        "push",
                        body("refs/heads/late").as_bytes(),
                    )
                    .await;
                    assert_eq!(s, 202, "{v}");
                    sent_late = true;
                }
                lines.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                assert!(
                    Instant::now() < deadline,
                    "the browser run hangs: {lines:?}"
                );
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().unwrap();
    assert!(
        status.success() && lines.iter().any(|l| l == "BROWSER-OK"),
        "browser run failed: {lines:?}"
    );
    let detail = shots.join("admin-detail.png");
    assert!(std::fs::metadata(&detail).unwrap().len() > 10_000);
    eprintln!("admin page screenshot: {}", detail.display());

    // What the page did, seen through the API: the failed event replayed twice (single, bulk),
    // the dead one redriven and now succeeded.
    let e = wait_status(&stack, &failed_id, "failed").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut e = e;
    while e["event"]["generation"] != 3 {
        assert!(Instant::now() < deadline, "{e:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        e = wait_status(&stack, &failed_id, "failed").await;
    }
    assert!(e["event"]["replay_run_id"].is_string());
    wait_status(&stack, &dead_id, "succeeded").await;
}
