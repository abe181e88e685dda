//! The chaos run: proves that nothing accepted is lost and nothing succeeded runs again.
//!
//! `hookgate-chaos run` starts the local stack (`hookgate serve`, the real binary) on its own data
//! dir with a route to an `exec` handler (this binary in `handler` mode) that fails transiently or
//! permanently with set probabilities and appends every successful run (event id, generation,
//! start time) to a file outside the stack. It sends N signed events from several providers with
//! concurrency, re-sends a share of them later with the same delivery id, SIGKILLs the stack at
//! random intervals (while sending and until every event is final) and restarts it on the same
//! data dir, then kills it once more at rest, waits for quiescence and prints an
//! account. It exits 1 if any accepted event is lost, if any handler ran for a generation after that
//! generation was recorded as succeeded, or if a re-send was stored as new.
//!
//! ```sh
//! cargo run --release -p hookgate-e2e --bin hookgate-chaos -- run --events 10000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hookgate_shared::clock;
use rand::RngExt;
use serde_json::Value;
use tokio::sync::Mutex;

const PROVIDERS: [(&str, &str, &str); 3] = [
    ("github", "github", "chaos-github-secret"),
    ("stripe", "stripe", "whsec_chaos_stripe_secret"),
    (
        "std",
        "standard-webhooks",
        "whsec_Y2hhb3Mtc3RhbmRhcmQtd2ViaG9va3Mtc2VjcmV0",
    ),
];

struct Opts {
    events: usize,
    concurrency: usize,
    resend: f64,
    kill_every_ms: u64,
    p_transient: f64,
    p_permanent: f64,
    quiesce_timeout: Duration,
    keep: Option<PathBuf>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: hookgate-chaos run [--events N (10000)] [--concurrency N (64)] [--resend 0.2] \
         [--kill-every-ms 2000 (0: never)] [--p-transient 0.1] [--p-permanent 0.02] \
         [--quiesce-timeout-secs 300] [--keep DIR]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("handler") => handler(),
        Some("run") => {
            let Some(opts) = parse_opts(&args[1..]) else {
                return usage();
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(run(opts))
        }
        _ => usage(),
    }
}

fn parse_opts(args: &[String]) -> Option<Opts> {
    let mut o = Opts {
        events: 10_000,
        concurrency: 64,
        resend: 0.2,
        kill_every_ms: 2_000,
        p_transient: 0.1,
        p_permanent: 0.02,
        quiesce_timeout: Duration::from_secs(300),
        keep: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next()?;
        match flag.as_str() {
            "--events" => o.events = v.parse().ok()?,
            "--concurrency" => o.concurrency = v.parse().ok()?,
            "--resend" => o.resend = v.parse().ok()?,
            "--kill-every-ms" => o.kill_every_ms = v.parse().ok()?,
            "--p-transient" => o.p_transient = v.parse().ok()?,
            "--p-permanent" => o.p_permanent = v.parse().ok()?,
            "--quiesce-timeout-secs" => o.quiesce_timeout = Duration::from_secs(v.parse().ok()?),
            "--keep" => o.keep = Some(PathBuf::from(v)),
            _ => return None,
        }
    }
    Some(o)
}

/// The `exec` handler: exit 75 (transient) or 1 (permanent) by chance, else record the run.
fn handler() -> ExitCode {
    let started = clock::now_ms();
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let p = |name: &str| -> f64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let roll: f64 = rand::random();
    if roll < p("CHAOS_P_TRANSIENT") {
        return ExitCode::from(75);
    }
    if roll < p("CHAOS_P_TRANSIENT") + p("CHAOS_P_PERMANENT") {
        return ExitCode::from(1);
    }
    let (Ok(record), Ok(id), Ok(g)) = (
        std::env::var("CHAOS_RECORD"),
        std::env::var("HOOKGATE_EVENT_ID"),
        std::env::var("HOOKGATE_GENERATION"),
    ) else {
        return ExitCode::from(1);
    };
    // One short write with O_APPEND: lines from concurrent handlers never interleave.
    let line = format!("{id} {g} {started}\n");
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)
        .and_then(|mut f| f.write_all(line.as_bytes()))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(75),
    }
}

fn config(me: &Path) -> String {
    let mut c = String::from(
        r#"[queue]
max_receive_count = 4
visibility_timeout = "5s"
handler_concurrency = 16

[retry]
backoff_base = "1s"
backoff_max = "2s"

[sweep]
interval = "2s"
older_than = "5s"

[handlers.chaos]
kind = "exec"
"#,
    );
    c.push_str(&format!(
        "command = [{}, \"handler\"]\ntimeout = \"10s\"\n",
        toml_str(&me.display().to_string())
    ));
    for (name, provider, secret) in PROVIDERS {
        c.push_str(&format!(
            "\n[[sources]]\nname = \"{name}\"\nprovider = \"{provider}\"\nsecrets = [\"{secret}\"]\n\n[[routes]]\nsource = \"{name}\"\nhandlers = [\"chaos\"]\n"
        ));
    }
    c
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

struct Stack {
    bin: PathBuf,
    dir: PathBuf,
    addr: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Stack {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("serve.log"))
            .expect("serve log");
        let child = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--config")
            .arg(self.dir.join("hookgate.toml"))
            .args(["--log-format", "json", "serve", "--listen", &self.addr])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HOOKGATE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hookgate serve");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// Runs a CLI command against the same data dir and config; stdout as JSON.
    fn cli(&self, args: &[&str]) -> Value {
        let out = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--config")
            .arg(self.dir.join("hookgate.toml"))
            .args(args)
            .env("HOOKGATE_LOG", "error")
            .output()
            .expect("run hookgate");
        assert!(
            out.status.success(),
            "hookgate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    fn all_events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut args = vec!["events", "list", "--limit", "1000", "-o", "json"];
            if let Some(c) = &cursor {
                args.push("--cursor");
                args.push(c);
            }
            let page = self.cli(&args);
            all.extend(page["events"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        all
    }
}

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    never_accepted: AtomicU64,
    resent_stored_as_new: AtomicU64,
    posts: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    New,
    Duplicate,
}

/// Posts one delivery until the gateway answers 2xx (as a provider retries), re-signing each try.
async fn deliver(
    http: &reqwest::Client,
    base: &str,
    i: usize,
    tally: &Tally,
    rejections: &Mutex<Vec<String>>,
) -> Option<(String, Answer)> {
    let (name, provider, secret) = PROVIDERS[i % PROVIDERS.len()];
    let delivery = format!("chaos-{i:06}");
    let (event_type, body) = hookgate_shared::samples::sample(provider, &delivery);
    let verifier = hookgate_shared::verify::verifier_for(provider, &BTreeMap::new())?;
    let url = format!("{base}/webhooks/{name}");
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let headers = verifier.sign(secret, &body, &url, clock::now_ms(), &delivery, &event_type);
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        tally.posts.fetch_add(1, Ordering::Relaxed);
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let doc: Value = resp.json().await.unwrap_or(Value::Null);
                match status {
                    200 | 202 => {
                        let id = doc["event_id"].as_str()?.to_owned();
                        let answer = if doc["status"] == "duplicate" {
                            Answer::Duplicate
                        } else {
                            Answer::New
                        };
                        return Some((id, answer));
                    }
                    500..=599 => {
                        tally.unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        tally.rejected.fetch_add(1, Ordering::Relaxed);
                        rejections
                            .lock()
                            .await
                            .push(format!("{delivery}: {status} {doc}"));
                        return None;
                    }
                }
            }
            Err(_) => {
                tally.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        let pause = rand::rng().random_range(50..400);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    tally.never_accepted.fetch_add(1, Ordering::Relaxed);
    None
}

async fn run(o: Opts) -> ExitCode {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = o.keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("run dir");
    let me = std::env::current_exe().expect("own path");
    let bin = me.with_file_name("hookgate");
    if !bin.exists() {
        eprintln!(
            "{} not found: build it first (cargo build [--release] -p hookgate-cli)",
            bin.display()
        );
        return ExitCode::from(2);
    }
    std::fs::write(dir.join("hookgate.toml"), config(&me)).expect("config");
    let record = dir.join("runs.log");
    let _ = std::fs::remove_file(&record);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let mut stack = Stack {
        bin,
        dir: dir.clone(),
        addr,
        env: vec![
            ("CHAOS_RECORD".into(), record.display().to_string()),
            ("CHAOS_P_TRANSIENT".into(), o.p_transient.to_string()),
            ("CHAOS_P_PERMANENT".into(), o.p_permanent.to_string()),
        ],
        child: None,
    };
    stack.start();
    let stack = Arc::new(std::sync::Mutex::new(stack));
    let started = Instant::now();

    // The killer: SIGKILL the stack every ~kill_every (uniform 0.5×–1.5×) and restart it.
    let sending = Arc::new(AtomicBool::new(true));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stack, sending, kills) = (stack.clone(), sending.clone(), kills.clone());
        let every = o.kill_every_ms;
        tokio::spawn(async move {
            if every == 0 {
                return;
            }
            while sending.load(Ordering::SeqCst) {
                let wait = rand::rng().random_range(every / 2..=every + every / 2);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if !sending.load(Ordering::SeqCst) {
                    break;
                }
                let mut s = stack.lock().expect("stack lock");
                s.kill();
                kills.fetch_add(1, Ordering::SeqCst);
                s.start();
            }
        })
    };

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let tally = Arc::new(Tally::default());
    let rejections = Arc::new(Mutex::new(Vec::new()));
    let first_ids: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let mismatched: Arc<AtomicU64> = Arc::default();
    let resends: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    futures::stream::iter(0..o.events)
        .for_each_concurrent(o.concurrency, |i| {
            let (http, base, tally, rejections, first_ids, resends, mismatched) = (
                http.clone(),
                base.clone(),
                tally.clone(),
                rejections.clone(),
                first_ids.clone(),
                resends.clone(),
                mismatched.clone(),
            );
            let resend = rand::random::<f64>() < o.resend;
            async move {
                let Some((id, answer)) = deliver(&http, &base, i, &tally, &rejections).await else {
                    return;
                };
                tally.accepted.fetch_add(1, Ordering::Relaxed);
                if answer == Answer::Duplicate {
                    // The stored-and-answered try's response was lost to a kill; the retry is a
                    // duplicate, exactly as a provider's retry would be.
                    tally.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                first_ids.lock().await.insert(i, id.clone());
                if resend {
                    let later = rand::rng().random_range(100..5_000);
                    let handle = tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(later)).await;
                        if let Some((again, answer)) =
                            deliver(&http, &base, i, &tally, &rejections).await
                        {
                            match answer {
                                Answer::Duplicate => {
                                    tally.duplicates.fetch_add(1, Ordering::Relaxed);
                                }
                                Answer::New => {
                                    tally.resent_stored_as_new.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            if again != id {
                                mismatched.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                    resends.lock().await.push(handle);
                }
            }
        })
        .await;
    for h in std::mem::take(&mut *resends.lock().await) {
        let _ = h.await;
    }
    let send_secs = started.elapsed().as_secs_f64();
    let first_ids = first_ids.lock().await.clone();
    let accepted_ids: HashSet<String> = first_ids.values().cloned().collect();
    // Processing goes on under the killer until every stored event is final (or the timeout).
    let wait_from = Instant::now();
    let settled = |stack: &Arc<std::sync::Mutex<Stack>>| -> (Vec<Value>, usize) {
        let events = stack.lock().expect("stack lock").all_events();
        let open = events
            .iter()
            .filter(|e| !matches!(e["status"].as_str(), Some("succeeded" | "failed" | "dead")))
            .count();
        (events, open)
    };
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if settled(&stack).1 == 0 || wait_from.elapsed() > o.quiesce_timeout {
            break;
        }
    }
    sending.store(false, Ordering::SeqCst);
    let _ = killer.await;
    {
        // A last kill and restart at rest, then the final state.
        let mut s = stack.lock().expect("stack lock");
        if o.kill_every_ms > 0 {
            s.kill();
            kills.fetch_add(1, Ordering::SeqCst);
            s.start();
        }
    }
    let events = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (events, open) = settled(&stack);
        if open == 0 || wait_from.elapsed() > o.quiesce_timeout {
            break events;
        }
    };
    let dlq = {
        let s = stack.lock().expect("stack lock");
        let doc = s.cli(&["dlq", "list", "--limit", "100000", "-o", "json"]);
        doc["messages"].as_array().map_or(0, Vec::len)
    };
    stack.lock().expect("stack lock").kill();

    // The account.
    let by_id: HashMap<&str, &Value> = events
        .iter()
        .filter_map(|e| Some((e["event_id"].as_str()?, e)))
        .collect();
    let mut status_count: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        *status_count
            .entry(e["status"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let lost: Vec<&String> = accepted_ids
        .iter()
        .filter(|id| {
            by_id.get(id.as_str()).is_none_or(|e| {
                !matches!(e["status"].as_str(), Some("succeeded" | "failed" | "dead"))
            })
        })
        .collect();
    let runs = std::fs::read_to_string(&record).unwrap_or_default();
    let mut runs_per: HashMap<(String, u32), u64> = HashMap::new();
    let mut double_after_success = 0u64;
    for line in runs.lines() {
        let mut parts = line.split(' ');
        let (Some(id), Some(g), Some(at)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(g), Ok(at)) = (g.parse::<u32>(), at.parse::<i64>()) else {
            continue;
        };
        *runs_per.entry((id.to_owned(), g)).or_default() += 1;
        if let Some(e) = by_id.get(id)
            && e["status"] == "succeeded"
            && e["generation"].as_u64() == Some(u64::from(g))
            && let Some(done) = e["finished_at"].as_str().and_then(clock::parse_rfc3339)
            && at > done
        {
            double_after_success += 1;
        }
    }
    let repeated_before_success = runs_per.values().filter(|n| **n > 1).count();
    let t = &tally;
    let get = |s: &str| status_count.get(s).copied().unwrap_or(0);
    let account = serde_json::json!({
        "sent": o.events,
        "posts": t.posts.load(Ordering::Relaxed),
        "connection_refused_or_reset": t.refused.load(Ordering::Relaxed),
        "answered_5xx": t.unavailable.load(Ordering::Relaxed),
        "accepted": accepted_ids.len(),
        "duplicates": t.duplicates.load(Ordering::Relaxed),
        "rejected_4xx": t.rejected.load(Ordering::Relaxed),
        "never_accepted": t.never_accepted.load(Ordering::Relaxed),
        "kills": kills.load(Ordering::SeqCst),
        "stored": events.len(),
        "succeeded": get("succeeded"),
        "failed": get("failed"),
        "dead": get("dead"),
        "in_dlq": dlq,
        "not_final": events.len() as u64 - get("succeeded") - get("failed") - get("dead"),
        "lost": lost.len(),
        "handler_runs": runs.lines().count(),
        "events_run_more_than_once_before_success": repeated_before_success,
        "runs_after_success_same_generation": double_after_success,
        "resent_but_stored_as_new": t.resent_stored_as_new.load(Ordering::Relaxed),
        "resent_with_another_event_id": mismatched.load(Ordering::Relaxed),
        "send_phase_secs": (send_secs * 10.0).round() / 10.0,
        "total_secs": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&account).expect("account")
    );
    for r in rejections.lock().await.iter().take(10) {
        eprintln!("rejected: {r}");
    }
    for id in lost.iter().take(20) {
        eprintln!(
            "lost: {id} {}",
            by_id.get(id.as_str()).map_or(Value::Null, |e| (*e).clone())
        );
    }
    if o.keep.is_some() {
        eprintln!("run dir kept: {}", dir.display());
    }
    let bad = !lost.is_empty()
        || double_after_success > 0
        || t.resent_stored_as_new.load(Ordering::Relaxed) > 0
        || mismatched.load(Ordering::Relaxed) > 0
        || t.rejected.load(Ordering::Relaxed) > 0
        || t.never_accepted.load(Ordering::Relaxed) > 0;
    if bad {
        eprintln!("CHAOS RUN FAILED");
        ExitCode::from(1)
    } else {
        eprintln!("chaos run: nothing lost, nothing ran again after success");
        ExitCode::SUCCESS
    }
}
