//! The `exec` handler with temporary shell scripts.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use hookgate_shared::config::Config;
use hookgate_shared::handlers::{
    ErrorKind, Event, HandlerError, HandlerReport, Handlers, OUTPUT_TAIL_BYTES,
};
use hookgate_shared::model::{DeliveryId, EventId, Generation, SourceName};
use hookgate_shared::secrets::SecretResolver;

fn event_with(payload: &Value, generation: u32) -> Event {
    let source = SourceName::parse("github").unwrap();
    let delivery_id = DeliveryId::parse("dlv-42").unwrap();
    let body = Bytes::from(serde_json::to_vec(payload).unwrap());
    Event {
        event_id: EventId::derive(&source, &delivery_id),
        source,
        delivery_id,
        event_type: "push".into(),
        generation: Generation::new(generation).unwrap(),
        received_at: 1_700_000_000_000,
        content_type: Some("application/json".into()),
        headers: BTreeMap::new(),
        body,
        payload: Some(payload.clone()),
    }
}

fn event() -> Event {
    event_with(
        &json!({
            "ref": "refs/heads/main",
            "n": 3,
            "danger": "$(touch pwned); echo `touch pwned2` > pwned3 'quoted' \"dq\"",
            "nul": "a\u{0000}b",
        }),
        2,
    )
}

/// Writes an executable `#!/bin/sh` script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A TOML basic string holding `s` (JSON string escapes are valid TOML ones).
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
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

/// `[handlers.NAME]` running `sh SCRIPT` (no exec bit needed, no ETXTBSY races).
fn sh_handler(name: &str, script: &Path, extra: &str) -> String {
    format!(
        "[handlers.{name}]\nkind = \"exec\"\ncommand = [\"/bin/sh\", {}]\n{extra}\n",
        lit(script.to_str().unwrap())
    )
}

/// [`sh_handler`] running in `dir`, with `timeout`.
fn sh_handler_in(name: &str, script: &Path, dir: &Path, timeout: &str) -> String {
    sh_handler(
        name,
        script,
        &format!(
            "timeout = \"{timeout}\"\nworking_dir = {}",
            lit(dir.to_str().unwrap())
        ),
    )
}

#[tokio::test]
async fn args_env_and_stdin_reach_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "show.sh",
        r#"
printf 'argc=%s\n' "$#"
for a in "$@"; do printf 'arg=[%s]\n' "$a"; done
printf 'env REF=[%s] N=[%s] LIT=[%s] MISSING=[%s]\n' "$REF" "$N" "$LIT" "$MISSING"
printf 'hookgate=%s|%s|%s|%s|%s\n' "$HOOKGATE_EVENT_ID" "$HOOKGATE_SOURCE" "$HOOKGATE_EVENT_TYPE" "$HOOKGATE_DELIVERY_ID" "$HOOKGATE_GENERATION"
printf 'PATH=[%s]\n' "$PATH"
printf 'pwd=[%s]\n' "$(pwd -P)"
cat > stdin.json
"#,
    );
    let h = build(&format!(
        "[handlers.show]\nkind = \"exec\"\ncommand = [\"/bin/sh\", {}, \"fixed arg\"]\n\
         args = [\"$.ref\", \"$.danger\", \"--literal\", \"$.missing\", \"$.n\"]\n\
         env = {{ REF = \"$.ref\", N = \"$.n\", LIT = \"plain value\", MISSING = \"$.nope\" }}\n\
         working_dir = {}\ntimeout = \"1s\"\n",
        lit(s.to_str().unwrap()),
        lit(dir.path().to_str().unwrap()),
    ));
    let e = event();
    let r = run(&h, "show", &e).await.expect("exit 0 is ok");
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(r.http_status, None);
    let out = r.output.expect("output");
    let danger = e.payload.as_ref().unwrap()["danger"].as_str().unwrap();
    let expected_args = format!(
        "argc=6\narg=[fixed arg]\narg=[refs/heads/main]\narg=[{danger}]\narg=[--literal]\narg=[]\narg=[3]\n"
    );
    assert!(out.starts_with(&expected_args), "{out}");
    assert!(
        out.contains("env REF=[refs/heads/main] N=[3] LIT=[plain value] MISSING=[]\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "hookgate={}|github|push|dlv-42|2\n",
            e.event_id.as_str()
        )),
        "{out}"
    );
    let path = std::env::var("PATH").unwrap_or_default();
    assert!(
        out.contains(&format!("PATH=[{path}]\n")),
        "inherited env: {out}"
    );
    let real_dir = std::fs::canonicalize(dir.path()).unwrap();
    assert!(
        out.contains(&format!("pwd=[{}]\n", real_dir.display())),
        "{out}"
    );

    // Payload values are never interpreted by a shell.
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(!dir.path().join(f).exists(), "{f} was created");
    }

    // stdin carried the envelope.
    let stdin: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stdin.json")).unwrap()).unwrap();
    assert_eq!(stdin, e.envelope());
    assert_eq!(stdin["payload"]["ref"], "refs/heads/main");
    assert_eq!(stdin["generation"], 2);
}

#[tokio::test]
async fn exit_codes_map_to_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "exit.sh",
        "echo to-stdout\necho to-stderr >&2\nexit \"$1\"",
    );
    let mut toml = String::new();
    for code in [0, 75, 1, 2] {
        toml.push_str(&sh_handler(
            &format!("x{code}"),
            &s,
            &format!("args = [\"{code}\"]"),
        ));
    }
    let h = build(&toml);
    let e = event();

    let ok = run(&h, "x0", &e).await.unwrap();
    assert_eq!(ok.exit_code, Some(0));

    for (code, kind) in [
        (75, ErrorKind::Transient),
        (1, ErrorKind::Permanent),
        (2, ErrorKind::Permanent),
    ] {
        let err = run(&h, &format!("x{code}"), &e).await.unwrap_err();
        assert_eq!(err.kind, kind, "{code}");
        assert_eq!(err.exit_code, Some(code));
        assert!(
            err.message.contains(&format!("exited with {code}")),
            "{}",
            err.message
        );
        let out = err.output.unwrap();
        assert!(
            out.contains("to-stdout\n") && out.contains("to-stderr\n"),
            "{out}"
        );
    }
}

#[tokio::test]
async fn killed_by_a_signal_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "die.sh", "echo dying\nkill -KILL $$");
    let h = build(&sh_handler("die", &s, ""));
    let err = run(&h, "die", &event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.exit_code, None);
    assert!(err.message.contains("signal 9"), "{}", err.message);
    assert_eq!(err.output.as_deref(), Some("dying\n"));
}

#[tokio::test]
async fn timeout_kills_the_program_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "hang.sh",
        "sleep 30 &\necho $! > sleeper.pid\necho started\nwait\necho never",
    );
    let h = build(&sh_handler_in("hang", &s, dir.path(), "300ms"));
    let started = Instant::now();
    let err = run(&h, "hang", &event()).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(err.message.contains("timed out"), "{}", err.message);
    assert_eq!(err.output.as_deref(), Some("started\n"));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // The background `sleep` was in the program's process group: it is gone too.
    let pid: u32 = std::fs::read_to_string(dir.path().join("sleeper.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if !alive(pid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sleeper {pid} survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cancelled_run_kills_and_reaps_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "wait.sh", "echo $$ > leader.pid\nexec sleep 30");
    let h = build(&sh_handler_in("wait", &s, dir.path(), "60s"));
    let e = event();
    let pid_file = dir.path().join("leader.pid");
    {
        // The run is dropped (as when its batch is abandoned) while the program sleeps.
        let running = run(&h, "wait", &e);
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::pin!(running);
            loop {
                tokio::select! {
                    r = &mut running => panic!("the program ended early: {r:?}"),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
                if std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')) {
                    break;
                }
            }
        })
        .await;
        assert!(waited.is_ok(), "the program never started");
    }
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Killed, and reaped: not even a zombie is left.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "{pid} is still there: {:?}",
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` runs (a zombie waiting for its reaper does not count).
fn alive(pid: u32) -> bool {
    let proc_stat = format!("/proc/{pid}/stat");
    if Path::new("/proc/self/stat").exists() {
        return match std::fs::read_to_string(&proc_stat) {
            Ok(s) => !s
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => false,
        };
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn programs_that_cannot_start_are_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let not_exec = dir.path().join("not-exec.sh");
    std::fs::write(&not_exec, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let h = build(&format!(
        "[handlers.missing]\nkind = \"exec\"\ncommand = [\"/nonexistent/hookgate-test-program\"]\n\
         [handlers.nopath]\nkind = \"exec\"\ncommand = [\"hookgate-test-no-such-program-on-path\"]\n\
         [handlers.noexec]\nkind = \"exec\"\ncommand = [{}]\n\
         [handlers.nodir]\nkind = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", \"true\"]\nworking_dir = {}\n",
        lit(not_exec.to_str().unwrap()),
        lit(dir.path().join("no-such-dir").to_str().unwrap()),
    ));
    let e = event();
    for (name, needle) in [
        ("missing", "does not exist"),
        ("nopath", "not found on PATH"),
        ("noexec", "not executable"),
        ("nodir", "working_dir"),
    ] {
        let err = run(&h, name, &e).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent, "{name}");
        assert_eq!(err.exit_code, None, "{name}");
        assert!(err.message.contains(needle), "{name}: {}", err.message);
    }
}

#[tokio::test]
async fn executable_script_runs_directly_relative_to_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "hook.sh", "echo \"direct $1\"");
    let h = build(&format!(
        "[handlers.direct]\nkind = \"exec\"\ncommand = [\"./hook.sh\"]\nargs = [\"$.ref\"]\nworking_dir = {}\n",
        lit(dir.path().to_str().unwrap())
    ));
    let r = run(&h, "direct", &event()).await.unwrap();
    assert_eq!(r.output.as_deref(), Some("direct refs/heads/main\n"));
}

#[tokio::test]
async fn large_output_keeps_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MB on stdout and stderr, then a marker.
    let s = script(
        dir.path(),
        "chatty.sh",
        "head -c 1000000 /dev/zero | tr '\\0' 'o'\nhead -c 1000000 /dev/zero | tr '\\0' 'e' >&2\necho\necho tail-marker",
    );
    let h = build(&sh_handler("chatty", &s, "timeout = \"1s\""));
    let r = run(&h, "chatty", &event()).await.unwrap();
    let out = r.output.unwrap();
    assert!(out.len() <= OUTPUT_TAIL_BYTES, "{}", out.len());
    assert!(out.len() > OUTPUT_TAIL_BYTES - 16, "{}", out.len());
    assert!(out.ends_with("\ntail-marker\n"), "{out}");
}

#[tokio::test]
async fn large_stdin_and_output_never_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let quick = script(dir.path(), "quick.sh", "echo done-without-reading");
    let slow = script(
        dir.path(),
        "slow.sh",
        "sleep 0.2\necho slept-without-reading",
    );
    let reader = script(dir.path(), "reader.sh", "wc -c");
    // Fills its output pipe before it reads stdin: only works if both flow at once.
    let chatty_reader = script(
        dir.path(),
        "chatty-reader.sh",
        "head -c 300000 /dev/zero | tr '\\0' 'z'\necho\nwc -c",
    );
    let mut toml = sh_handler("quick", &quick, "timeout = \"1s\"");
    toml.push_str(&sh_handler("slow", &slow, "timeout = \"1s\""));
    toml.push_str(&sh_handler("reader", &reader, "timeout = \"1s\""));
    toml.push_str(&sh_handler(
        "chatty_reader",
        &chatty_reader,
        "timeout = \"1s\"",
    ));
    let h = build(&toml);
    // 1 MiB of payload: far more than a pipe buffer (64 KiB on Linux).
    let e = event_with(&json!({ "blob": "x".repeat(1 << 20) }), 1);
    let envelope_len = serde_json::to_vec(&e.envelope()).unwrap().len();

    let r = run(&h, "quick", &e).await.unwrap();
    assert_eq!(r.output.as_deref(), Some("done-without-reading\n"));
    let r = run(&h, "slow", &e).await.unwrap();
    assert_eq!(r.output.as_deref(), Some("slept-without-reading\n"));
    let r = run(&h, "reader", &e).await.unwrap();
    assert_eq!(
        r.output.as_deref().map(str::trim),
        Some(envelope_len.to_string().as_str())
    );
    let r = run(&h, "chatty_reader", &e).await.unwrap();
    let out = r.output.unwrap();
    let mut lines = out.lines().rev();
    assert_eq!(
        lines.next().map(str::trim),
        Some(envelope_len.to_string().as_str()),
        "{out}"
    );
    assert!(lines.next().is_some_and(|l| l.ends_with("zzzz")), "{out}");
}

#[tokio::test]
async fn nul_in_a_payload_argument_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "x.sh", "echo should-not-run > ran");
    let h = build(&sh_handler("nul", &s, "args = [\"$.nul\"]"));
    let err = run(&h, "nul", &event()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("NUL"), "{}", err.message);
    assert!(!dir.path().join("ran").exists());
}
