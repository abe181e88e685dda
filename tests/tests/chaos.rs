//! A small chaos run in the test command: 500 signed events from three providers, 20 % re-sent,
//! the stack SIGKILLed about every 2 s and restarted on the same data dir. The runner exits
//! non-zero if any accepted event is lost or any handler ran again after its generation succeeded;
//! its account is checked here too. The full run (10,000 events) is in the README.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn a_small_chaos_run_loses_nothing_and_runs_nothing_twice_after_success() {
    // The runner starts `hookgate serve` from beside itself; make sure both are current.
    let bin = hookgate_e2e::hookgate_bin();
    let chaos = bin.with_file_name("hookgate-chaos");
    let out = Command::new(&chaos)
        .args(["run", "--events", "500", "--concurrency", "32"])
        .output()
        .expect("run hookgate-chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chaos run failed:\n{stdout}\n{stderr}"
    );
    let account: serde_json::Value = serde_json::from_str(&stdout).expect("account JSON");
    let n = |k: &str| {
        account[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {account}"))
    };
    assert_eq!(n("sent"), 500);
    assert_eq!(n("accepted"), 500, "{account}");
    assert_eq!(n("stored"), 500, "{account}");
    assert_eq!(n("lost"), 0, "{account}");
    assert_eq!(n("runs_after_success_same_generation"), 0, "{account}");
    assert!(
        n("kills") >= 2,
        "the stack should have been killed: {account}"
    );
    assert!(n("duplicates") >= 50, "about 20 % are re-sent: {account}");
    assert_eq!(
        n("succeeded") + n("failed") + n("dead"),
        500,
        "every event final: {account}"
    );
}
