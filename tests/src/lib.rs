//! Test harness: runs the real `hookgate` binary as a child process on a free loopback port with its
//! own data dir, signs deliveries the way providers do, and reads state back through the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod durable_floor;
pub mod procstat;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `hookgate` binary, brought up to date once per test process. Built with the workspace's
/// full feature set, as `scripts/test.sh` builds it, so no test run rebuilds it differently.
pub fn hookgate_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        let bin = target.join("debug").join("hookgate");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "--workspace", "--all-features", "--bins"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo build -p hookgate-cli");
        assert!(status.success(), "building hookgate failed");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// The admin token every stack is started with (`HOOKGATE_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

/// Which store and queues `serve` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite data dir.
    Sqlite,
    /// DynamoDB + SQS on a moto server, provisioned with `hookgate aws init`.
    Aws,
}

/// Environment for talking to the shared moto server as if it were AWS.
pub fn moto_env() -> Vec<(String, String)> {
    let moto =
        hookgate_shared::moto::MotoServer::shared().expect("moto server (run scripts/venv.sh)");
    vec![
        ("AWS_ENDPOINT_URL".into(), moto.endpoint().to_owned()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_SESSION_TOKEN".into(), "testing".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// Runs `hookgate aws init` for fresh resources and returns the moto env plus the exported names.
pub fn provision_aws(config_path: &Path) -> Vec<(String, String)> {
    let mut env = moto_env();
    let prefix = hookgate_shared::moto::unique_prefix("e2e");
    let out = Command::new(hookgate_bin())
        .args(["aws", "init", "--prefix", &prefix, "--config"])
        .arg(config_path)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run hookgate aws init");
    assert!(
        out.status.success(),
        "aws init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let exports = line
        .strip_prefix("export ")
        .unwrap_or_else(|| panic!("not an export line: {line}"));
    for pair in exports.split_whitespace() {
        let (k, v) = pair.split_once('=').unwrap();
        env.push((k.to_owned(), v.to_owned()));
    }
    for k in ["HOOKGATE_TABLE", "HOOKGATE_QUEUE_URL", "HOOKGATE_DLQ_URL"] {
        assert!(
            env.iter().any(|(n, _)| n == k),
            "aws init did not export {k}: {line}"
        );
    }
    env
}

/// A running local stack.
pub struct Stack {
    pub backend: Backend,
    env: Vec<(String, String)>,
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    listen: String,
    runs: usize,
    log_level: String,
}

impl Stack {
    /// Starts `hookgate serve` with this config text on a fresh data dir.
    pub fn start(config: &str) -> Stack {
        Self::start_on(config, Backend::Sqlite)
    }

    /// Starts `hookgate serve` on the given backend with fresh resources.
    pub fn start_on(config: &str, backend: Backend) -> Stack {
        Self::start_logging(config, backend, "info")
    }

    /// Like [`Stack::start_on`], with `HOOKGATE_LOG` set to `level` (e.g. "debug", "trace").
    pub fn start_logging(config: &str, backend: Backend, level: &str) -> Stack {
        Self::start_env(config, backend, level, &[])
    }

    /// Like [`Stack::start_logging`], with extra environment for `serve` and the CLI.
    pub fn start_env(config: &str, backend: Backend, level: &str, extra: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("hookgate.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut env = match backend {
            Backend::Sqlite => Vec::new(),
            Backend::Aws => provision_aws(&config_path),
        };
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut s = Stack {
            backend,
            env,
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            dir,
            config_path,
            listen: "127.0.0.1:0".into(),
            runs: 0,
            log_level: level.to_owned(),
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Log file of the n-th run (stderr of `serve`).
    pub fn log_path(&self, run: usize) -> PathBuf {
        self.dir.path().join(format!("serve-{run}.log"))
    }

    /// Every log line of every run so far.
    pub fn all_logs(&self) -> String {
        (1..=self.runs)
            .map(|r| std::fs::read_to_string(self.log_path(r)).unwrap_or_default())
            .collect()
    }

    fn spawn(&mut self) {
        self.runs += 1;
        let log = std::fs::File::create(self.log_path(self.runs)).unwrap();
        let mut child = Command::new(hookgate_bin())
            .args([
                "serve",
                "--listen",
                &self.listen,
                "--log-format",
                "json",
                "--backend",
            ])
            .arg(match self.backend {
                Backend::Sqlite => "sqlite",
                Backend::Aws => "aws",
            })
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("--config")
            .arg(&self.config_path)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("HOOKGATE_LOG", &self.log_level)
            .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn hookgate serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.strip_prefix("hookgate listening on http://") {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "hookgate serve did not start: {}",
                    std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
                )
            });
        self.addr = addr.parse().unwrap();
        // Later runs reuse the same port so a client keeps its URL.
        self.listen = self.addr.to_string();
        self.child = Some(child);
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        false
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Sets (`Some`) or removes (`None`) an environment variable of the later runs of `serve` and
    /// of the CLI.
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != name);
        if let Some(v) = value {
            self.env.push((name.to_owned(), v.to_owned()));
        }
    }

    /// `GET /health`, answered 200 with JSON.
    pub async fn health(&self) -> Value {
        let res = reqwest::get(format!("{}/health", self.base()))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.unwrap()
    }

    /// `http://addr` of the running stack.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One admin API call with the stack's token: (status, JSON body).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.base());
        let mut req = client
            .request(method.parse().unwrap(), url)
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("admin request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("admin body is not JSON: {text:?} (status {status})"));
        (status, json)
    }

    pub fn url(&self, source: &str) -> String {
        format!("http://{}/webhooks/{source}", self.addr)
    }

    /// Runs a `hookgate` CLI command on this stack's data dir and config.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = self.cli_command();
        cmd.args(args);
        cmd.output().expect("run hookgate")
    }

    /// A `hookgate` command carrying this stack's backend flags, environment, config and data
    /// dir (the subcommand's own arguments go before these, e.g. through [`Command::args`] on a
    /// fresh command; see `tests/operator.rs`).
    pub fn cli_command(&self) -> Command {
        let mut cmd = Command::new(hookgate_bin());
        if self.backend == Backend::Aws {
            cmd.arg("--aws");
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("--config")
            .arg(&self.config_path)
            .arg("--data-dir")
            .arg(self.data_dir());
        cmd
    }

    /// `hookgate events show ID -o json`, parsed.
    pub fn event(&self, id: &str) -> Value {
        let out = self.cli(&["events", "show", id, "-o", "json"]);
        assert!(
            out.status.success(),
            "events show {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `hookgate events list -o json` with extra args, parsed events array.
    pub fn events(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["events", "list", "-o", "json", "--limit", "1000"];
        args.extend_from_slice(extra);
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "events list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["events"].as_array().unwrap().clone()
    }

    /// Waits until the event's status is `want` (or panics after `timeout`), returning the event.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let e = self.event(id);
            if e["event"]["status"] == want {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "event {id} never reached {want}: {e:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Signed headers for a delivery, exactly as the provider would sign it.
pub fn signed(
    provider: &str,
    secret: &str,
    body: &[u8],
    url: &str,
    delivery_id: &str,
    event_type: &str,
    now_ms: i64,
) -> Vec<(String, String)> {
    let v = hookgate_shared::verify::verifier_for(provider, &Default::default())
        .expect("known provider");
    v.sign(secret, body, url, now_ms, delivery_id, event_type)
}

/// POSTs a body with headers; returns status and parsed JSON body.
pub async fn post(url: &str, headers: &[(String, String)], body: Vec<u8>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("body is not JSON: {text:?} (status {status})"));
    (status, json)
}

/// Sends a correctly signed delivery to a stack.
pub async fn send(
    stack: &Stack,
    source: &str,
    provider: &str,
    secret: &str,
    delivery_id: &str,
    event_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let url = stack.url(source);
    let h = signed(
        provider,
        secret,
        body,
        &url,
        delivery_id,
        event_type,
        hookgate_shared::clock::now_ms(),
    );
    post(&url, &h, body.to_vec()).await
}

/// Writes an executable shell script into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A GitHub source (secret `secret`) whose `push` events run `log`, `doomed` events a script that
/// fails transiently until `dir/fixed` exists, and `broken` events a script that exits 3
/// (permanent); 2 receives, 1 s backoff.
pub fn operator_config(dir: &Path, secret: &str) -> String {
    let doomed = script(
        dir,
        "doomed.sh",
        &format!(
            "if [ -f {d}/fixed ]; then exit 0; fi\necho 'downstream down' >&2\nexit 75",
            d = dir.display()
        ),
    );
    let broken = script(dir, "broken.sh", "echo 'bad input' >&2\nexit 3");
    format!(
        r#"
[queue]
max_receive_count = 2
visibility_timeout = "5s"

[retry]
backoff_base = "1s"
backoff_max = "1s"

[[sources]]
name = "github"
provider = "github"
secrets = ["{secret}"]

[[routes]]
source = "github"
events = ["push"]
handlers = ["log"]

[[routes]]
source = "github"
events = ["doomed"]
handlers = ["doomed"]

[[routes]]
source = "github"
events = ["broken"]
handlers = ["broken"]

[handlers.log]
kind = "log"

[handlers.doomed]
kind = "exec"
command = ["{doomed}"]

[handlers.broken]
kind = "exec"
command = ["{broken}"]
"#,
        doomed = doomed.display(),
        broken = broken.display(),
    )
}
