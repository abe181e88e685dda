//! `openapi.yaml` describes the whole HTTP surface: schemathesis (from the project `.venv`)
//! generates requests from it against a running local stack (with events in it) and checks that
//! no response is a server error and every response matches the documented status codes, content
//! types and schemas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hookgate_e2e::{ADMIN_TOKEN, Stack, send, workspace_root};

const GH: &str = "gh-openapi-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let root = workspace_root();
    let st = root.join(".venv/bin/schemathesis");
    if !st.exists() {
        let ok = Command::new("bash")
            .arg(root.join("scripts/venv.sh"))
            .status()
            .unwrap();
        assert!(ok.success(), "scripts/venv.sh failed");
    }
    let stack = Stack::start(&format!(
        r#"
[[sources]]
name = "github"
provider = "github"
secrets = ["{GH}"]

[[routes]]
source = "github"
handlers = ["log"]

[handlers.log]
kind = "log"
"#
    ));
    for d in ["oa-1", "oa-2", "oa-3"] {
        let (s, v) = send(
            &stack,
            "github",
            "github",
            GH,
            d,
            "push",
            br#"{"ref":"refs/heads/main"}"#,
        )
        .await;
        assert_eq!(s, 202, "{v}");
    }
    let report = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let base = stack.base();
        let report = report.path().to_owned();
        move || {
            // Run from the report's temporary directory: schemathesis keeps a cache
            // (`.schemathesis/`) in its working directory, which is not the repository's business.
            Command::new(st)
                .current_dir(&report)
                .arg("run")
                .arg(root.join("openapi.yaml"))
                .args(["--url", &base])
                .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
                .args(["-H", &format!("Cookie: hookgate_admin={ADMIN_TOKEN}")])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--max-examples",
                    "50",
                    "--seed",
                    "20261129",
                    "--generation-database",
                    "none",
                    "--no-color",
                    "--request-timeout",
                    "20",
                    "--report-dir",
                ])
                .arg(&report)
                .output()
                .expect("run schemathesis")
        }
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = text
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("no summary line:\n{text}"));
    let counts: Vec<&str> = summary.split_whitespace().collect();
    assert!(
        counts.len() == 4 && counts[0] == counts[2] && counts[3] == "passed",
        "not every generated case passed: {summary}"
    );
    // The server stayed up and answers.
    let h = reqwest::get(format!("{}/health", stack.base()))
        .await
        .unwrap();
    assert_eq!(h.status().as_u16(), 200);
    assert!(!stack.all_logs().contains("panicked"));
}
