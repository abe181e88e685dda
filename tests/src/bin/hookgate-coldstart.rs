//! Cold start, side by side (`scripts/coldstart.sh` builds the release binaries and runs this).
//!
//! A minimal local Lambda Runtime API (`GET /2018-06-01/runtime/invocation/next`, the
//! `init/error` and invocation `response`/`error` posts) on loopback. Each run starts one binary
//! as Lambda would (`AWS_LAMBDA_*`, region, dummy credentials, AWS's own endpoints (no
//! `AWS_ENDPOINT_URL`, as deployed), `HTTPS_PROXY` / `HTTP_PROXY` pointing to a loopback
//! listener that only counts connections, so that any AWS call is seen, the bundled
//! `infra/hookgate.toml` as `HOOKGATE_CONFIG`) and measures process start → its first `GET …/invocation/next`, i.e. the
//! whole init phase: the binary loaded, config parsed, AWS clients and handlers built. Then the
//! process is killed. The functions (`hookgate-ingest`, `hookgate-processor`, `hookgate-replay`)
//! take turns with a hello-world `lambda_runtime` binary built with the same profile, `--runs`
//! rounds; the budget is median(function) / median(hello) ≤ 1.3. Any connection to the AWS
//! endpoint during init (a network call at init) fails the run too. Exit status 1 when over.
//! Every binary, the hello world's included, runs from a copy written the way a deployment is
//! unpacked (`deployed_copies`); `--as-built` runs the files where the build wrote them instead.
//! Each binary's line also gives its median minor page faults per start (no budget), read from
//! `/proc/PID/stat` while the process waits on its first `/next`: most of a function's extra time
//! over the hello world is the kernel's, mapping and copying the binary's pages.
//!
//! Usage: `hookgate-coldstart --bin-dir DIR --config FILE [--runs N] [--env NAME=VALUE]… [--as-built]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use hookgate_e2e::procstat;
use tokio::sync::mpsc;

type Error = Box<dyn std::error::Error + Send + Sync>;

const FUNCTIONS: [&str; 3] = ["hookgate-ingest", "hookgate-processor", "hookgate-replay"];
const HELLO: &str = "hookgate-hello-lambda";
const BUDGET: f64 = 1.3;

/// What the runtime API saw.
#[derive(Debug)]
enum Seen {
    Next(Instant),
    InitError(String),
}

async fn next(State(tx): State<mpsc::UnboundedSender<Seen>>) -> StatusCode {
    let _ = tx.send(Seen::Next(Instant::now()));
    // Hold the long poll like Lambda does when no invocation is waiting; the harness kills the
    // process.
    std::future::pending::<()>().await;
    StatusCode::NO_CONTENT
}

async fn init_error(State(tx): State<mpsc::UnboundedSender<Seen>>, body: String) -> StatusCode {
    let _ = tx.send(Seen::InitError(body));
    StatusCode::ACCEPTED
}

async fn accepted() -> StatusCode {
    StatusCode::ACCEPTED
}

/// The binaries as a deployment unpacks them, in `DIR/coldstart-copies/`: written with plain
/// writes, like every binary of the comparison, the hello world's included. The linker writes its
/// output through a shared mapping instead, and the page cache apparently keeps such a file in
/// smaller units: started from there, the hello world took 115 page faults against 111, the
/// functions 169-173 against 157-160, and their ratios came out up to 0.06 higher (README, Cold
/// start).
struct Copies(PathBuf);

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes per write when unpacking (`unzip` and `cat` write in chunks of this order).
const UNPACK_CHUNK: usize = 64 * 1024;

fn deployed_copies(bin_dir: &Path, bins: &[&str]) -> Result<Copies, Error> {
    use std::os::unix::fs::PermissionsExt;
    let dir = Copies(bin_dir.join("coldstart-copies"));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0)?;
    for b in bins {
        let to = dir.0.join(b);
        let bytes = std::fs::read(bin_dir.join(b))?;
        let mut file = std::fs::File::create(&to)?;
        for chunk in bytes.chunks(UNPACK_CHUNK) {
            std::io::Write::write_all(&mut file, chunk)?;
        }
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))?;
        std::fs::File::open(&to)?.sync_all()?;
    }
    Ok(dir)
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("hookgate-coldstart: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<bool, Error> {
    let mut args = std::env::args().skip(1);
    let (mut bin_dir, mut config, mut runs) = (None, None, 25usize);
    let mut as_built = false;
    let mut extra_env: Vec<(String, String)> = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--bin-dir" => bin_dir = Some(PathBuf::from(value()?)),
            "--config" => config = Some(PathBuf::from(value()?)),
            "--runs" => runs = value()?.parse()?,
            // The files where the build wrote them, not unpacked copies (see `deployed_copies`).
            "--as-built" => as_built = true,
            // Extra environment for every binary (the hello world too), e.g. SSL_CERT_DIR=….
            "--env" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or("--env takes NAME=VALUE")?;
                extra_env.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let bin_dir = bin_dir.ok_or("--bin-dir DIR is required")?;
    let config = std::fs::read_to_string(config.ok_or("--config FILE is required")?)?.replace(
        "${HOOKGATE_SECRETS_ID}",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:hookgate-sources-AbCdEf",
    );
    let runs = runs.max(20);

    let rt = tokio::runtime::Runtime::new()?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
    let api = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let api_addr = api.local_addr()?;
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(accepted),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(accepted))
        .with_state(tx);
    rt.spawn(async move { axum::serve(api, app).await });
    // The "AWS" endpoint: counts connections, answers nothing.
    let aws = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let aws_addr = aws.local_addr()?;
    let aws_connections = Arc::new(AtomicUsize::new(0));
    {
        let count = aws_connections.clone();
        rt.spawn(async move {
            while let Ok((socket, _)) = aws.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                drop(socket);
            }
        });
    }

    let bins: Vec<&str> = std::iter::once(HELLO).chain(FUNCTIONS).collect();
    for b in &bins {
        let p = bin_dir.join(b);
        if !p.is_file() {
            return Err(format!("{} is missing (build it first)", p.display()).into());
        }
        println!(
            "{b:<22} {:>9} bytes",
            std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0)
        );
    }
    let copies = if as_built {
        None
    } else {
        Some(deployed_copies(&bin_dir, &bins)?)
    };
    let run_dir = copies.as_ref().map_or(bin_dir.as_path(), |c| c.0.as_path());
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); bins.len()];
    // Minor page faults of each start, read while the process waits on its first `/next`: the
    // kernel's share of a start (loading, relocating and touching the binary's pages) moves
    // with the host more than the instructions do.
    let mut faults: Vec<Vec<u64>> = vec![Vec::new(); bins.len()];
    let mut ok = true;
    // One untimed round first (page cache), then the timed rounds, binaries taking turns. Each
    // round starts one binary further along, so every binary runs in every position (first
    // after the previous round's last, right after the hello world...) equally often.
    for round in 0..=runs {
        for turn in 0..bins.len() {
            let k = (round + turn) % bins.len();
            let b = &bins[k];
            while rx.try_recv().is_ok() {}
            let before = aws_connections.load(Ordering::Relaxed);
            let mut cmd = Command::new(run_dir.join(b));
            cmd.env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", b)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{b}"))
                .env(
                    "AWS_LAMBDA_LOG_STREAM_NAME",
                    "2026/11/29/[$LATEST]0123456789abcdef",
                )
                .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEEXAMPLE00")
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                )
                .env("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE")
                // AWS's endpoints as deployed; every connection goes through the counting proxy.
                .env_remove("AWS_ENDPOINT_URL")
                .env("HTTPS_PROXY", format!("http://{aws_addr}"))
                .env("HTTP_PROXY", format!("http://{aws_addr}"))
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("RUST_LOG", "info")
                .env("HOOKGATE_CONFIG", &config)
                .env("HOOKGATE_TABLE", "hookgate-events")
                .env(
                    "HOOKGATE_QUEUE_URL",
                    "https://sqs.us-east-1.amazonaws.com/123456789012/hookgate-queue",
                )
                .env(
                    "HOOKGATE_DLQ_URL",
                    "https://sqs.us-east-1.amazonaws.com/123456789012/hookgate-dlq",
                )
                .env(
                    "HOOKGATE_SECRETS_ID",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:hookgate-sources-AbCdEf",
                )
                .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let start = Instant::now();
            let mut child = cmd.spawn()?;
            let seen = rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(30), rx.recv()).await });
            let faulted = procstat::minor_faults(child.id());
            let _ = child.kill();
            let out = child.wait_with_output()?;
            match seen {
                Ok(Some(Seen::Next(at))) => {
                    if round > 0 {
                        times[k].push(at.duration_since(start));
                        faults[k].push(faulted?);
                    }
                }
                other => {
                    let what = match other {
                        Ok(Some(Seen::InitError(body))) => format!("init error {body}"),
                        Ok(_) => "the runtime API stopped".to_owned(),
                        Err(_) => "timed out after 30 s".to_owned(),
                    };
                    return Err(format!(
                        "{b} never asked for an invocation ({what}); stderr: {}",
                        String::from_utf8_lossy(&out.stderr)
                    )
                    .into());
                }
            }
            let calls = aws_connections.load(Ordering::Relaxed) - before;
            if calls > 0 {
                println!("{b}: {calls} connection(s) to the AWS endpoint during init");
                ok = false;
            }
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let medians: Vec<Duration> = times.iter_mut().map(median).collect();
    let hello = medians[0].as_secs_f64();
    println!();
    println!(
        "{runs} runs each, process start → first GET /runtime/invocation/next (median, min, max; \
         median minor page faults):"
    );
    for (k, b) in bins.iter().enumerate() {
        faults[k].sort_unstable();
        let faulted = faults[k][faults[k].len() / 2];
        let (lo, hi) = (times[k][0], times[k][times[k].len() - 1]);
        let ratio = medians[k].as_secs_f64() / hello;
        let verdict = if k == 0 {
            String::new()
        } else if ratio <= BUDGET {
            format!("{ratio:.2}x hello   (budget <= {BUDGET})  OK")
        } else {
            ok = false;
            format!("{ratio:.2}x hello   (budget <= {BUDGET})  OVER BUDGET")
        };
        println!(
            "{b:<22} {:>7.2} ms  ({:.2} … {:.2})  {faulted:>4} faults  {verdict}",
            medians[k].as_secs_f64() * 1000.0,
            lo.as_secs_f64() * 1000.0,
            hi.as_secs_f64() * 1000.0,
        );
    }
    println!(
        "AWS endpoint connections during init: {}",
        aws_connections.load(Ordering::Relaxed)
    );
    Ok(ok)
}
