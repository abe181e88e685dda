//! Test support: a moto server (the project's `.venv/bin/moto_server`) on a free loopback port,
//! shared by every test of one test binary, and fresh AWS resources per test.
//!
//! The server cannot outlive the test process, however that process ends: it is started by a
//! small shell that waits on a pipe from the test process and kills moto when the pipe closes
//! (the kernel closes it when the test process exits, is killed, or crashes).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use crate::adapters::aws::{AwsBackend, ProvisionOptions, Provisioned, provision};

/// How long moto may take to answer after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server.
pub struct MotoServer {
    endpoint: String,
    port: u16,
    log: PathBuf,
    /// The shell's stdin: dropping it (or this process ending) stops moto.
    _guard: Mutex<(Child, ChildStdin)>,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotoServer")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `<workspace>/.venv/bin/moto_server`.
pub fn moto_server_path() -> PathBuf {
    workspace_root().join(".venv/bin/moto_server")
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// True when something answers HTTP on the port.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl MotoServer {
    /// Starts a new server. Fails with a clear message when `.venv/bin/moto_server` is missing.
    pub fn start() -> Result<Self, String> {
        let bin = moto_server_path();
        if !bin.is_file() {
            return Err(format!(
                "moto server not found at {}: run scripts/venv.sh (it creates the project .venv with moto[server])",
                bin.display()
            ));
        }
        let mut last_err = String::new();
        // A port picked free can be taken before moto binds it: try a few.
        for _ in 0..3 {
            match Self::start_on(&bin, free_port()?) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn start_on(bin: &Path, port: u16) -> Result<Self, String> {
        let log =
            std::env::temp_dir().join(format!("hookgate-moto-{}-{port}.log", std::process::id()));
        // `read` returns at EOF, i.e. when the test process is gone; then moto is killed.
        let script = r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 &
p=$!
read _ignored
kill "$p" 2>/dev/null
wait "$p" 2>/dev/null"#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot spawn {}: {e}", bin.display()))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| "moto launcher has no stdin pipe".to_owned())?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers(port) {
                return Ok(Self {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    port,
                    log,
                    _guard: Mutex::new((child, stdin)),
                });
            }
            let tail = || {
                std::fs::read_to_string(&log)
                    .map(|s| s.lines().rev().take(20).collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default()
            };
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "moto server exited ({status}) before answering on port {port}:\n{}",
                    tail()
                ));
            }
            if Instant::now() >= deadline {
                drop(stdin);
                let _ = child.wait();
                return Err(format!(
                    "moto server did not answer on port {port} within {}s:\n{}",
                    START_TIMEOUT.as_secs(),
                    tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One server for the whole test process, started on first use.
    pub fn shared() -> Result<&'static MotoServer, String> {
        static SHARED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(MotoServer::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// moto's own log (requests and tracebacks), for diagnosing a failing test.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// A fresh SDK configuration for this server: us-east-1, static dummy credentials, the
    /// endpoint, and the production HTTP client ([`crate::adapters::aws::http`]; the SDK crates
    /// have no other). Build one per test: an HTTP client must not outlive the runtime it ran on.
    pub async fn sdk_config(&self) -> SdkConfig {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(60))
            .build();
        let client = crate::adapters::aws::http::SdkHttpClient::new(
            &timeouts,
            crate::tls::SdkTrust::Mozilla,
        )
        .unwrap_or_else(|e| panic!("the SDK HTTP client: {e}"));
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(client.shared())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(&self.endpoint)
            .timeout_config(timeouts)
            .load()
            .await
    }
}

/// A name prefix no other test of this process (or a concurrent process) uses.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(20)
        .collect();
    format!(
        "hg-{tag}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh set of AWS resources on the shared moto server, and the adapters over them.
#[derive(Debug, Clone)]
pub struct MotoSubject {
    pub sdk: SdkConfig,
    pub resources: Provisioned,
    pub backend: AwsBackend,
    pub max_receive_count: u32,
    pub visibility: Duration,
}

/// Provisions fresh resources (unique names) and builds the adapters.
pub async fn fresh_subject(
    tag: &str,
    max_receive_count: u32,
    visibility: Duration,
) -> Result<MotoSubject, String> {
    let moto = MotoServer::shared()?;
    let sdk = moto.sdk_config().await;
    let mut opts = ProvisionOptions::new(unique_prefix(tag));
    opts.max_receive_count = max_receive_count;
    opts.visibility_timeout = visibility;
    let resources = provision(&sdk, &opts)
        .await
        .map_err(|e| format!("provisioning on moto failed: {e}"))?;
    let backend = AwsBackend::new(
        &sdk,
        resources.table.clone(),
        resources.queue_url.clone(),
        resources.dlq_url.clone(),
    )
    .map_err(|e| e.to_string())?;
    Ok(MotoSubject {
        sdk,
        resources,
        backend,
        max_receive_count,
        visibility,
    })
}

// ---------------------------------------------------------------------------------------------
// Counting AWS calls

use std::sync::Arc;

/// Records the API operations of every request a client sends.
#[derive(Debug, Default, Clone)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    /// An SQS client (signed requests, see [`crate::adapters::aws::SqsQueue`]) whose every
    /// request is recorded.
    pub fn sqs_client(
        &self,
        sdk: &aws_config::SdkConfig,
    ) -> crate::adapters::aws::rest::RestClient {
        self.client(sdk, crate::adapters::aws::rest::Service::Sqs)
    }

    /// A DynamoDB client (signed requests) whose every request is recorded.
    pub fn dynamodb_client(
        &self,
        sdk: &aws_config::SdkConfig,
    ) -> crate::adapters::aws::dynamodb::DynamoDb {
        crate::adapters::aws::dynamodb::DynamoDb::new(
            self.client(sdk, crate::adapters::aws::rest::Service::DynamoDb),
        )
    }

    fn client(
        &self,
        sdk: &aws_config::SdkConfig,
        service: crate::adapters::aws::rest::Service,
    ) -> crate::adapters::aws::rest::RestClient {
        let recorded = self.0.clone();
        crate::adapters::aws::rest::RestClient::from_sdk(sdk, service)
            .unwrap_or_else(|e| panic!("{service:?} client for moto: {e}"))
            .observed(move |op| {
                recorded
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(op.to_owned());
            })
    }

    /// The operations recorded since the last call, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The adapters on fresh resources, every DynamoDB and SQS request recorded (through the
/// signed clients' observer).
pub fn recorded_backend(s: &MotoSubject, rec: &Recorder) -> AwsBackend {
    let sqs = rec.sqs_client(&s.sdk);
    AwsBackend::from_clients(
        rec.dynamodb_client(&s.sdk),
        sqs,
        crate::adapters::aws::SecretsManagerStore::from_sdk(&s.sdk),
        s.resources.table.clone(),
        s.resources.queue_url.clone(),
        s.resources.dlq_url.clone(),
    )
}
