//! Local throughput, side by side (`scripts/load.sh` builds the release binaries and runs this).
//!
//! The same load — correctly signed GitHub `push` deliveries of the ~2 KB sample body, each with
//! its own delivery id, signed before the clock starts, `--concurrency` requests in flight,
//! `--requests` in all — goes to:
//!
//! 1. `hookgate-bare`: an axum server that answers 202 and does nothing (the floor);
//! 2. `hookgate serve` on a fresh SQLite data dir (demo config: `github` → the `log` handler),
//!    while a monitor reads the data dir to see how fast the queue drains;
//! 3. `hookgate serve --ingest-only` on another fresh data dir: the same load with nothing
//!    processed, so its rate is the ceiling that processing shares (no budget; every 2xx must be
//!    stored and still queued);
//! 4. the durable floor, `hookgate-bare --durable`: the bare server answering only after a
//!    group-commit writer with hookgate's durability settings has committed each body to SQLite,
//!    doing nothing else; then the same with 16 consumers taking what was stored, 10 at a time,
//!    after a cursor, and then through a queue with SQS semantics (no budget: what durability
//!    and at-least-once consumption cost by themselves, against which hookgate's ingest-only and
//!    full runs are compared);
//! 5. with `--peer SCRIPT --python PYTHON`, the Python peer (`scripts/python_peer.py`: FastAPI on
//!    one uvicorn worker, the same HMAC check and a durable SQLite write per delivery): a side by
//!    side figure, not a budget;
//! 6. `hookgate-bare` again (the floor is the mean of both runs, so drift in what the machine is
//!    doing weighs on both sides).
//!
//! Then every event hookgate answered 2xx for must be in the data dir, and the budgets are checked:
//! hookgate's requests/s ≥ 40 % of the floor's; hookgate's p99 ≤ 5 × the floor's; the queue
//! drains at ≥ 95 % of the ingest rate (events processed per second from the first request to the
//! last success, against requests per second; the 5 % allows for the last batch in flight and the
//! monitor's 50 ms poll). Exit status 1 when a budget fails.
//!
//! It also prints the CPU time each side spent per request (no budget): the server process's
//! (user + system, from `/proc/PID/stat`; for hookgate from the first request until the queue
//! has drained, so its processing is counted too) and the load generator's own, over the same
//! window. On a machine whose cores the load generator shares, the req/s ratio follows from
//! these. A slower host raises them too; the ratio of the two servers' figures moves less. And
//! what each server wrote per request, over the same window (`/proc/PID/io`: bytes and write
//! calls, files and sockets alike): for hookgate, above all its SQLite WAL.
//!
//! Usage: `hookgate-load --hookgate BIN --bare BIN [--peer SCRIPT --python PYTHON] [--requests N]
//! [--concurrency C] [--work DIR]`

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hookgate_e2e::durable_floor::Consume;
use hookgate_e2e::procstat;
use hookgate_shared::demo::GITHUB_SECRET;
use hookgate_shared::verify::verifier_for;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    hookgate: PathBuf,
    bare: PathBuf,
    /// The Python peer: (interpreter, script).
    peer: Option<(PathBuf, PathBuf)>,
    requests: usize,
    concurrency: usize,
    work: PathBuf,
}

fn options() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let mut hookgate = None;
    let mut bare = None;
    let mut peer_script = None;
    let mut python = None;
    let mut requests = 20_000;
    let mut concurrency = 64;
    let mut work = std::env::temp_dir().join(format!("hookgate-load-{}", std::process::id()));
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--hookgate" => hookgate = Some(PathBuf::from(value()?)),
            "--bare" => bare = Some(PathBuf::from(value()?)),
            "--peer" => peer_script = Some(PathBuf::from(value()?)),
            "--python" => python = Some(PathBuf::from(value()?)),
            "--requests" => requests = value()?.parse()?,
            "--concurrency" => concurrency = value()?.parse()?,
            "--work" => work = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(Options {
        hookgate: hookgate.ok_or("--hookgate BIN is required")?,
        bare: bare.ok_or("--bare BIN is required")?,
        peer: match (python, peer_script) {
            (Some(py), Some(script)) => Some((py, script)),
            (None, None) => None,
            _ => return Err("--peer and --python go together".into()),
        },
        requests,
        concurrency: concurrency.max(1),
        work,
    })
}

/// One delivery, signed before the clock starts.
struct Delivery {
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

fn deliveries(run: &str, n: usize) -> Result<Vec<Delivery>, Error> {
    let verifier = verifier_for("github", &Default::default()).ok_or("no github verifier")?;
    (0..n)
        .map(|i| {
            let delivery_id = format!("{run}-{i:08}");
            let body = hookgate_shared::samples::github_push(&delivery_id);
            let mut headers = reqwest::header::HeaderMap::new();
            for (k, v) in verifier.sign(GITHUB_SECRET, &body, "", 0, &delivery_id, "push") {
                headers.insert(
                    reqwest::header::HeaderName::from_bytes(k.as_bytes())?,
                    reqwest::header::HeaderValue::from_str(&v)?,
                );
            }
            Ok(Delivery {
                headers,
                body: bytes::Bytes::from(body),
            })
        })
        .collect()
}

/// What one load run saw.
struct Run {
    elapsed: Duration,
    /// Latency of every request, sorted.
    latencies: Vec<Duration>,
    /// Event ids of 2xx answers.
    accepted: Vec<String>,
    non_2xx: usize,
    errors: usize,
    first_error: Option<String>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{name:<10} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   2xx {}  other {}  errors {}",
            self.rps(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            self.accepted.len(),
            self.non_2xx,
            self.errors,
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system) a process has used so far, its exited threads' included.
struct CpuClock {
    /// `/proc/PID/stat`, or `/proc/self/stat`.
    stat: PathBuf,
    /// Clock ticks per second (`getconf CLK_TCK`).
    ticks_per_s: f64,
}

impl CpuClock {
    fn of(pid: Option<u32>, ticks_per_s: f64) -> Self {
        let stat = match pid {
            Some(pid) => PathBuf::from(format!("/proc/{pid}/stat")),
            None => PathBuf::from("/proc/self/stat"),
        };
        Self { stat, ticks_per_s }
    }

    /// The clock of another process, at the same tick rate.
    fn of_process(&self, pid: u32) -> Self {
        Self::of(Some(pid), self.ticks_per_s)
    }

    fn now(&self) -> Result<Duration, Error> {
        let text = std::fs::read_to_string(&self.stat)?;
        Ok(Duration::from_secs_f64(
            cpu_ticks(&text)? / self.ticks_per_s,
        ))
    }
}

/// utime + stime (fields 14 and 15), in clock ticks, from a `/proc/PID/stat` line.
fn cpu_ticks(stat: &str) -> Result<f64, Error> {
    Ok((procstat::field(stat, 14)? + procstat::field(stat, 15)?) as f64)
}

fn clock_ticks_per_second() -> Result<f64, Error> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    let ticks: f64 = String::from_utf8(out.stdout)?.trim().parse()?;
    if ticks > 0.0 {
        Ok(ticks)
    } else {
        Err("getconf CLK_TCK gave no positive value".into())
    }
}

/// CPU per request over one measured run: (server, load generator).
#[derive(Clone, Copy)]
struct CpuPerRequest {
    server: Duration,
    load_generator: Duration,
}

impl CpuPerRequest {
    fn new(server: Duration, load_generator: Duration, requests: usize) -> Self {
        let n = requests.max(1) as u32;
        Self {
            server: server / n,
            load_generator: load_generator / n,
        }
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{:<10} cpu per request: server {:>6.1} µs, load generator {:>5.1} µs",
            name,
            micros(self.server),
            micros(self.load_generator)
        )
    }
}

/// What a server process wrote per request over one measured run (`/proc/PID/io`): the
/// database, its WAL and its log for hookgate, each response for both.
struct WrittenPerRequest {
    bytes: f64,
    calls: f64,
}

impl WrittenPerRequest {
    fn new(written: procstat::Written, requests: usize) -> Self {
        let n = requests.max(1) as f64;
        Self {
            bytes: written.bytes as f64 / n,
            calls: written.calls as f64 / n,
        }
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{:<10} written per request: {:>7.0} bytes in {:>4.1} write calls (server, files and sockets)",
            name, self.bytes, self.calls
        )
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn load(url: &str, batch: Arc<Vec<Delivery>>, concurrency: usize) -> Result<Run, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, next, batch, url) =
            (client.clone(), next.clone(), batch.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ids = Vec::new();
            let (mut non_2xx, mut errors, mut first_error) = (0, 0, None);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(d) = batch.get(i) else { break };
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .headers(d.headers.clone())
                    .body(d.body.clone())
                    .send()
                    .await;
                let outcome = match res {
                    Ok(r) => {
                        let status = r.status();
                        r.bytes().await.map(|b| (status, b))
                    }
                    Err(e) => Err(e),
                };
                lat.push(t.elapsed());
                match outcome {
                    Ok((status, body)) if status.is_success() => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        ids.push(v["event_id"].as_str().unwrap_or_default().to_owned());
                    }
                    Ok((status, body)) => {
                        non_2xx += 1;
                        first_error.get_or_insert_with(|| {
                            format!("{status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (lat, ids, non_2xx, errors, first_error)
        }));
    }
    let mut run = Run {
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        accepted: Vec::new(),
        non_2xx: 0,
        errors: 0,
        first_error: None,
    };
    for t in tasks {
        let (lat, ids, non_2xx, errors, first_error) = t.await?;
        run.latencies.extend(lat);
        run.accepted.extend(ids);
        run.non_2xx += non_2xx;
        run.errors += errors;
        if run.first_error.is_none() {
            run.first_error = first_error;
        }
    }
    run.elapsed = started.elapsed();
    run.latencies.sort_unstable();
    Ok(run)
}

/// A server child process; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(mut cmd: Command, log: &Path, banner: &str) -> Result<Self, Error> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log)?))
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let banner = banner.to_owned();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.strip_prefix(&banner) {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("server did not start; see {}", log.display()))?;
        Ok(Self { child, addr })
    }

    /// SIGTERM (graceful), then SIGKILL after 20 s.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_only(db: &Path) -> Result<rusqlite::Connection, Error> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// (time since the load started, events succeeded, messages still in the main queue)
type Sample = (Duration, i64, i64);

/// Polls the data dir every 50 ms until `stop`, or until `target` events have succeeded.
fn monitor(
    db: PathBuf,
    started: Instant,
    target: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Sample>, Error> {
    let conn = read_only(&db)?;
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let done: i64 = conn.query_row(
            "SELECT count(*) FROM events WHERE status = 'succeeded'",
            [],
            |r| r.get(0),
        )?;
        let queued = queued_messages(&conn)?;
        samples.push((started.elapsed(), done, queued));
        let want = target.load(Ordering::Relaxed);
        if want > 0 && done as usize >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(samples)
}

/// Messages in the main queue (visible or not).
fn queued_messages(conn: &rusqlite::Connection) -> Result<i64, Error> {
    Ok(conn.query_row(
        "SELECT count(*) FROM messages WHERE queue = 'main'",
        [],
        |r| r.get(0),
    )?)
}

/// Prints how many of the events answered 2xx (in `run` and its warm-up) are in the data dir;
/// returns how many are missing.
fn report_stored(conn: &rusqlite::Connection, run: &Run, warm_run: &Run) -> Result<usize, Error> {
    let (answered, missing) = unstored(conn, "SELECT event_id FROM events", run, warm_run)?;
    println!(
        "stored     {} of {} events answered 2xx are in the data dir ({} missing)",
        answered - missing,
        answered,
        missing
    );
    Ok(missing)
}

/// Of the ids answered 2xx in `run` and its warm-up: how many, and how many of them `ids_sql`
/// (a query of one text column) does not return.
fn unstored(
    conn: &rusqlite::Connection,
    ids_sql: &str,
    run: &Run,
    warm_run: &Run,
) -> Result<(usize, usize), Error> {
    let mut stmt = conn.prepare(ids_sql)?;
    let stored: HashSet<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    let missing = run
        .accepted
        .iter()
        .chain(&warm_run.accepted)
        .filter(|id| !stored.contains(*id))
        .count();
    Ok((run.accepted.len() + warm_run.accepted.len(), missing))
}

/// `hookgate serve` with `args` on a fresh data dir (`data` or `data-NAME` in the work dir), with
/// the demo config; its log goes to `hookgate.log` or `hookgate-NAME.log`.
fn start_hookgate(opt: &Options, name: &str, args: &[&str]) -> Result<(Server, PathBuf), Error> {
    let suffix = if name.is_empty() {
        String::new()
    } else {
        format!("-{name}")
    };
    let data_dir = opt.work.join(format!("data{suffix}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut cmd = Command::new(&opt.hookgate);
    cmd.arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env_remove("HOOKGATE_CONFIG_FILE");
    let server = Server::start(
        cmd,
        &opt.work.join(format!("hookgate{suffix}.log")),
        "hookgate listening on http://",
    )?;
    Ok((server, data_dir))
}

/// One measured load against a running server, with the CPU each side spent on it.
fn measured_run(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    url: &str,
    batch: Arc<Vec<Delivery>>,
    concurrency: usize,
    own_cpu: &CpuClock,
) -> Result<(Run, CpuPerRequest, WrittenPerRequest), Error> {
    let pid = server.child.id();
    let server_cpu = own_cpu.of_process(pid);
    let (server_before, self_before) = (server_cpu.now()?, own_cpu.now()?);
    let written_before = procstat::Written::of(pid)?;
    let run = rt.block_on(load(url, batch, concurrency))?;
    let cpu = CpuPerRequest::new(
        server_cpu.now()?.saturating_sub(server_before),
        own_cpu.now()?.saturating_sub(self_before),
        run.latencies.len(),
    );
    let written = WrittenPerRequest::new(
        procstat::Written::of(pid)?.since(written_before),
        run.latencies.len(),
    );
    Ok((run, cpu, written))
}

/// `hookgate serve --ingest-only`: the same load with nothing processed, so its rate is the
/// ceiling that processing shares. Every 2xx must be stored and still queued.
fn ingest_only(
    rt: &tokio::runtime::Runtime,
    opt: &Options,
    warmup: Arc<Vec<Delivery>>,
    batch: Arc<Vec<Delivery>>,
    own_cpu: &CpuClock,
) -> Result<(Run, bool), Error> {
    let (server, data_dir) = start_hookgate(opt, "ingest-only", &["--ingest-only"])?;
    let url = format!("http://{}/webhooks/github", server.addr);
    let warm_run = rt.block_on(load(&url, warmup, opt.concurrency))?;
    let (run, cpu, written) = measured_run(rt, &server, &url, batch, opt.concurrency, own_cpu)?;
    println!("{}", run.line("ingest"));
    println!("{}", cpu.line("ingest"));
    println!("{}", written.line("ingest"));
    server.stop();
    let conn = read_only(&data_dir.join(hookgate_shared::adapters::sqlite::DB_FILE))?;
    let missing = report_stored(&conn, &run, &warm_run)?;
    let queued = queued_messages(&conn)?;
    let answered = run.accepted.len() + warm_run.accepted.len();
    println!("queued     {queued} of {answered} (ingest only: nothing processed)");
    let ok = missing == 0 && run.accepted.len() == opt.requests && queued as usize == answered;
    Ok((run, ok))
}

/// The durable floor's consumers: as many as `hookgate serve` runs processor loops.
const FLOOR_CONSUMERS: usize = 16;

/// `hookgate-bare --durable` on a fresh database, with `consumers` taking what is stored (after a
/// cursor or through a queue): a
/// measured run and, with consumers, the wait until all is taken (counted in its CPU, as for
/// hookgate). Ok when every 2xx is stored, every request was 2xx, and with consumers all was taken.
fn durable_floor(
    rt: &tokio::runtime::Runtime,
    opt: &Options,
    name: &str,
    (consumers, consume): (usize, Consume),
    warmup: Arc<Vec<Delivery>>,
    batch: Arc<Vec<Delivery>>,
    own_cpu: &CpuClock,
) -> Result<(Run, CpuPerRequest, bool), Error> {
    let db = opt.work.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(opt.work.join(format!("{name}.db{suffix}")));
    }
    let mut cmd = Command::new(&opt.bare);
    cmd.args(["127.0.0.1:0", "--durable"]).arg(&db).args([
        "--consumers",
        &consumers.to_string(),
        "--consume",
        consume.as_str(),
    ]);
    let server = Server::start(
        cmd,
        &opt.work.join(format!("{name}.log")),
        "listening on http://",
    )?;
    let url = format!("http://{}/webhooks/github", server.addr);
    let warm_run = rt.block_on(load(&url, warmup, opt.concurrency))?;
    let conn = read_only(&db)?;
    let pending =
        || -> Result<i64, Error> { Ok(conn.query_row(consume.pending_sql(), [], |r| r.get(0))?) };
    // As for hookgate: the measured run starts with the warm-up taken.
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumers > 0 && pending()? > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = server.child.id();
    let server_cpu = own_cpu.of_process(pid);
    let (server_before, self_before) = (server_cpu.now()?, own_cpu.now()?);
    let written_before = procstat::Written::of(pid)?;
    let run = rt.block_on(load(&url, batch, opt.concurrency))?;
    let load_generator_cpu = own_cpu.now()?.saturating_sub(self_before);
    let mut drained = consumers == 0;
    let give_up = Instant::now() + Duration::from_secs(300);
    while !drained && Instant::now() < give_up {
        drained = pending()? == 0;
        if !drained {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let cpu = CpuPerRequest::new(
        server_cpu.now()?.saturating_sub(server_before),
        load_generator_cpu,
        run.latencies.len(),
    );
    let written = WrittenPerRequest::new(
        procstat::Written::of(pid)?.since(written_before),
        run.latencies.len(),
    );
    server.stop();
    let label = match (consumers, consume) {
        (0, _) => "floor",
        (_, Consume::Cursor) => "floor+cur",
        (_, Consume::Queue) => "floor+sqs",
    };
    println!("{}", run.line(label));
    println!("{}", cpu.line(label));
    println!("{}", written.line(label));
    let (answered, missing) = unstored(
        &conn,
        hookgate_e2e::durable_floor::STORED_IDS,
        &run,
        &warm_run,
    )?;
    println!(
        "stored     {} of {answered} deliveries the durable floor answered 2xx are in its database{}",
        answered - missing,
        if consumers == 0 {
            String::new()
        } else {
            format!(", {} not taken", pending()?)
        }
    );
    let ok = missing == 0 && run.accepted.len() == opt.requests && drained;
    Ok((run, cpu, ok))
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("hookgate-load: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<bool, Error> {
    let opt = options()?;
    std::fs::create_dir_all(&opt.work)?;
    let rt = tokio::runtime::Runtime::new()?;
    let run_id = format!(
        "load-{}-{}",
        std::process::id(),
        hookgate_shared::clock::now_ms()
    );
    let warm = opt.concurrency * 8;
    println!(
        "{} signed GitHub push deliveries of {} bytes, concurrency {}, {} warm-up requests first",
        opt.requests,
        hookgate_shared::samples::github_push(&format!("{run_id}-00000000")).len(),
        opt.concurrency,
        warm
    );
    let mut bare_runs = Vec::new();
    let mut hookgate_run = None;
    let mut drain = None;
    let mut stored_ok = false;
    let mut stored_ok_ingest_only = false;
    let mut peer_run = None;
    let own_cpu = CpuClock::of(None, clock_ticks_per_second()?);
    let mut bare_cpu: Vec<CpuPerRequest> = Vec::new();
    let mut hookgate_cpu = None;
    let mut ingest_only_run = None;
    let mut steps = vec![
        "bare",
        "hookgate",
        "ingest-only",
        "durable",
        "durable-cursor",
        "durable-queue",
    ];
    if opt.peer.is_some() {
        steps.push("peer");
    }
    steps.push("bare");
    let mut floor_runs: Vec<(Run, CpuPerRequest)> = Vec::new();
    let mut floors_ok = true;
    for (step, &name) in steps.iter().enumerate() {
        let warmup = Arc::new(deliveries(&format!("{run_id}-{step}-warm"), warm)?);
        let batch = Arc::new(deliveries(&format!("{run_id}-{step}"), opt.requests)?);
        if name == "bare" {
            let mut cmd = Command::new(&opt.bare);
            cmd.arg("127.0.0.1:0");
            let server = Server::start(cmd, &opt.work.join("bare.log"), "listening on http://")?;
            let url = format!("http://{}/webhooks/github", server.addr);
            rt.block_on(load(&url, warmup, opt.concurrency))?;
            let (run, cpu, written) =
                measured_run(&rt, &server, &url, batch, opt.concurrency, &own_cpu)?;
            println!("{}", run.line("bare"));
            println!("{}", cpu.line("bare"));
            println!("{}", written.line("bare"));
            server.stop();
            bare_runs.push(run);
            bare_cpu.push(cpu);
            continue;
        }
        if let Some(consumers) = match name {
            "durable" => Some((0, Consume::Cursor)),
            "durable-cursor" => Some((FLOOR_CONSUMERS, Consume::Cursor)),
            "durable-queue" => Some((FLOOR_CONSUMERS, Consume::Queue)),
            _ => None,
        } {
            let (run, cpu, ok) =
                durable_floor(&rt, &opt, name, consumers, warmup, batch, &own_cpu)?;
            floors_ok &= ok;
            floor_runs.push((run, cpu));
            continue;
        }
        if name == "ingest-only" {
            let (run, ok) = ingest_only(&rt, &opt, warmup, batch, &own_cpu)?;
            stored_ok_ingest_only = ok;
            ingest_only_run = Some(run);
            continue;
        }
        if let ("peer", Some((python, script))) = (name, &opt.peer) {
            let db = opt.work.join("peer.db");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(opt.work.join(format!("peer.db{suffix}")));
            }
            let mut cmd = Command::new(python);
            cmd.arg(script).arg(&db).env("PEER_SECRET", GITHUB_SECRET);
            let server = Server::start(cmd, &opt.work.join("peer.log"), "listening on http://")?;
            let url = format!("http://{}/webhooks/github", server.addr);
            let warm_run = rt.block_on(load(&url, warmup, opt.concurrency))?;
            let run = rt.block_on(load(&url, batch, opt.concurrency))?;
            println!("{}", run.line("python"));
            server.stop();
            // The peer's 2xx must be stored too, or its figure would mean nothing.
            let conn = read_only(&db)?;
            let (answered, missing) =
                unstored(&conn, "SELECT delivery_id FROM events", &run, &warm_run)?;
            println!(
                "stored     {} of {answered} deliveries the Python peer answered 2xx are in its database",
                answered - missing,
            );
            if missing > 0 || run.accepted.len() != opt.requests {
                return Err("the Python peer lost or refused deliveries".into());
            }
            peer_run = Some(run);
            continue;
        }
        let (server, data_dir) = start_hookgate(&opt, "", &[])?;
        let url = format!("http://{}/webhooks/github", server.addr);
        let warm_run = rt.block_on(load(&url, warmup, opt.concurrency))?;
        let db = data_dir.join(hookgate_shared::adapters::sqlite::DB_FILE);
        // Let the warm-up drain so the measured run starts from an empty queue.
        let conn = read_only(&db)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let queued = queued_messages(&conn)?;
            if queued == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let done_before: i64 = conn.query_row(
            "SELECT count(*) FROM events WHERE status = 'succeeded'",
            [],
            |r| r.get(0),
        )?;
        let target = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let server_cpu = own_cpu.of_process(server.child.id());
        let (server_before, self_before) = (server_cpu.now()?, own_cpu.now()?);
        let written_before = procstat::Written::of(server.child.id())?;
        let started = Instant::now();
        let mon = {
            let (db, target, stop) = (db.clone(), target.clone(), stop.clone());
            std::thread::spawn(move || monitor(db, started, target, stop))
        };
        let run = rt.block_on(load(&url, batch, opt.concurrency))?;
        let ingest_end = started.elapsed();
        let load_generator_cpu = own_cpu.now()?.saturating_sub(self_before);
        target.store(done_before as usize + run.accepted.len(), Ordering::Relaxed);
        // The monitor stops at the target; give up after 5 minutes.
        let give_up = Instant::now() + Duration::from_secs(300);
        while !mon.is_finished() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let samples = mon.join().map_err(|_| "monitor panicked")??;
        // Ingest and processing: until the queue has drained (or the monitor gave up).
        let cpu = CpuPerRequest::new(
            server_cpu.now()?.saturating_sub(server_before),
            load_generator_cpu,
            run.latencies.len(),
        );
        let written = WrittenPerRequest::new(
            procstat::Written::of(server.child.id())?.since(written_before),
            run.latencies.len(),
        );
        hookgate_cpu = Some(cpu);
        println!("{}", run.line("hookgate"));
        println!("{}", cpu.line("hookgate"));
        println!("{}", written.line("hookgate"));
        if let Some(e) = &run.first_error {
            println!("           first failure: {e}");
        }
        // Every 2xx must be stored.
        let missing = report_stored(&conn, &run, &warm_run)?;
        stored_ok = missing == 0 && run.accepted.len() == opt.requests;
        let queued_at_end = samples
            .iter()
            .take_while(|s| s.0 <= ingest_end)
            .last()
            .map_or(0, |s| s.2);
        let drained_at = samples
            .iter()
            .find(|s| s.1 >= done_before + run.accepted.len() as i64)
            .map(|s| s.0);
        drain = Some((ingest_end, drained_at, queued_at_end));
        hookgate_run = Some(run);
        server.stop();
    }
    let hg = hookgate_run.ok_or("no hookgate run")?;
    let bare_rps = bare_runs.iter().map(Run::rps).sum::<f64>() / bare_runs.len() as f64;
    let bare_p99 = bare_runs
        .iter()
        .map(|r| ms(r.percentile(0.99)))
        .sum::<f64>()
        / bare_runs.len() as f64;
    let rps_ratio = hg.rps() / bare_rps;
    let p99_ratio = ms(hg.percentile(0.99)) / bare_p99;
    println!();
    println!("req/s      hookgate / bare = {rps_ratio:.2}   (budget >= 0.40)");
    if let Some(io) = &ingest_only_run {
        println!(
            "req/s      hookgate ingest only / bare = {:.2}   (no budget: the ceiling with nothing processed)",
            io.rps() / bare_rps
        );
    }
    if let Some(hg_cpu) = hookgate_cpu
        && !bare_cpu.is_empty()
    {
        let mean = |f: fn(&CpuPerRequest) -> Duration| {
            bare_cpu.iter().map(|c| micros(f(c))).sum::<f64>() / bare_cpu.len() as f64
        };
        let (bare_server, bare_loadgen) = (mean(|c| c.server), mean(|c| c.load_generator));
        println!(
            "cpu        per request, server + load generator: bare {:.1} µs, hookgate {:.1} µs (ingest and processing); hookgate's server CPU {:.1}x the bare server's   (no budget)",
            bare_server + bare_loadgen,
            micros(hg_cpu.server) + micros(hg_cpu.load_generator),
            micros(hg_cpu.server) / bare_server.max(f64::MIN_POSITIVE),
        );
    }
    if let [(floor, floor_cpu), (cursor, cursor_cpu), (queue, queue_cpu)] = &floor_runs[..] {
        println!(
            "req/s      durable floor / bare = {:.2}; consumed after a cursor {:.2}, through a queue {:.2}   (no budget: durability alone)",
            floor.rps() / bare_rps,
            cursor.rps() / bare_rps,
            queue.rps() / bare_rps
        );
        if let Some(io) = &ingest_only_run {
            println!(
                "req/s      hookgate ingest only / durable floor = {:.2}; hookgate / floor with a cursor {:.2}, with a queue {:.2}   (no budget)",
                io.rps() / floor.rps(),
                hg.rps() / cursor.rps(),
                hg.rps() / queue.rps()
            );
        }
        if let Some(hg_cpu) = hookgate_cpu {
            println!(
                "cpu        server per request: durable floor {:.1} µs, with a cursor {:.1} µs, with a queue {:.1} µs; hookgate {:.1} µs   (no budget)",
                micros(floor_cpu.server),
                micros(cursor_cpu.server),
                micros(queue_cpu.server),
                micros(hg_cpu.server)
            );
        }
    }
    println!("p99        hookgate / bare = {p99_ratio:.2}   (budget <= 5.00)");
    if let Some(peer) = &peer_run {
        println!(
            "python     hookgate / Python peer: req/s {:.1}x, p99 {:.2}x   (side by side, no budget)",
            hg.rps() / peer.rps(),
            ms(hg.percentile(0.99)) / ms(peer.percentile(0.99))
        );
    }
    let (ingest_end, drained_at, queued_at_end) = drain.ok_or("no drain figures")?;
    let ingest_rate = hg.accepted.len() as f64 / ingest_end.as_secs_f64();
    let drain_ratio = match drained_at {
        Some(t) => {
            let rate = hg.accepted.len() as f64 / t.as_secs_f64();
            println!(
                "drain      ingest {ingest_rate:.0}/s over {:.2} s; processed {rate:.0}/s, queue empty {:.2} s after the first request ({queued_at_end} queued when the load ended)",
                ingest_end.as_secs_f64(),
                t.as_secs_f64()
            );
            rate / ingest_rate
        }
        None => {
            println!("drain      the queue did not drain within 5 minutes");
            0.0
        }
    };
    println!("drain      processed / ingested per second = {drain_ratio:.2}   (budget >= 0.95)");
    let ok = [
        ("req/s ratio", rps_ratio >= 0.40),
        ("p99 ratio", p99_ratio <= 5.0),
        ("drain ratio", drain_ratio >= 0.95),
        ("every 2xx stored, every request 2xx", stored_ok),
        (
            "ingest only: every 2xx stored and queued",
            stored_ok_ingest_only,
        ),
        ("durable floor: every 2xx stored (and taken)", floors_ok),
    ];
    let mut all = true;
    for (what, good) in ok {
        println!("{:<40} {}", what, if good { "OK" } else { "OVER BUDGET" });
        all &= good;
    }
    Ok(all)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_after_a_command_name_with_spaces() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 731 52 0 0 20 0 5 0";
        assert_eq!(cpu_ticks(stat).unwrap(), 783.0);
        assert!(cpu_ticks("4242 (short) S 1 2").is_err());
        assert!(cpu_ticks("no command name").is_err());
    }

    #[test]
    fn own_cpu_clock_counts_work_done() {
        let clock = CpuClock::of(None, clock_ticks_per_second().unwrap());
        let before = clock.now().unwrap();
        // Busy until the clock has seen 50 ms of CPU; a clock that does not move fails at 30 s.
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut x = 0_u64;
        let used = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let used = clock.now().unwrap() - before;
            if used >= Duration::from_millis(50) || Instant::now() > give_up {
                break used;
            }
        };
        assert!(used >= Duration::from_millis(50), "{used:?}");
    }
}
