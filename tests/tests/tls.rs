//! Outbound TLS as the binaries run it (rustls on ring, compiled-in Mozilla roots, the platform's
//! store on opt-in): the AWS SDK clients and the `forward` handler against real TLS endpoints on
//! loopback, signed by a private CA made for the test.
//!
//! - Without `HOOKGATE_TLS_NATIVE_ROOTS`, the private CA is not trusted: the handshake fails and
//!   nothing reaches the endpoint.
//! - With `HOOKGATE_TLS_NATIVE_ROOTS=1` and `SSL_CERT_FILE` naming the CA, the same calls succeed.
//! - Through a proxy (`HTTPS_PROXY`, `HTTP_PROXY`, with credentials; `NO_PROXY`), the AWS calls
//!   tunnel to an https endpoint and go in absolute form to an http one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hookgate_e2e::{Backend, Stack, hookgate_bin, moto_env, send};
use tokio_rustls::rustls;

/// A private CA, and a server certificate it signed for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: String,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hookgate test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: key.serialize_der(),
    }
}

/// A TLS front on a free loopback port: completes handshakes with the test certificate and
/// relays the plaintext to `upstream`. Counts handshakes that completed and that failed.
struct TlsFront {
    addr: SocketAddr,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl TlsFront {
    async fn start(pki: &Pki, upstream: SocketAddr) -> TlsFront {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![pki.cert.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(pki.key.clone().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = TlsFront {
            addr: listener.local_addr().unwrap(),
            ok: Arc::default(),
            failed: Arc::default(),
        };
        let (ok, failed) = (front.ok.clone(), front.failed.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, ok, failed) = (acceptor.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    ok.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        front
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

fn write_ca(dir: &Path, pki: &Pki) -> PathBuf {
    let path = dir.join("private-ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap();
    path
}

/// The moto server's address (the tests' stand-in for AWS).
fn moto_addr() -> SocketAddr {
    let env = moto_env();
    let endpoint = &env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").unwrap().1;
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// `hookgate aws init` (DynamoDB, SQS: the CLI's SDK clients on the shared HTTP client) against
/// moto behind the TLS front.
fn aws_init(front: &TlsFront, extra: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    std::fs::write(&config, "").unwrap();
    let prefix = hookgate_shared::moto::unique_prefix("tls");
    Command::new(hookgate_bin())
        .args(["aws", "init", "--prefix", &prefix, "--config"])
        .arg(&config)
        .envs(moto_env())
        .env("AWS_ENDPOINT_URL", front.url())
        .env_remove("HOOKGATE_TLS_NATIVE_ROOTS")
        .envs(extra.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_trust_a_private_ca_only_when_the_platform_store_is_opted_in() {
    let pki = pki();
    let front = TlsFront::start(&pki, moto_addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &pki);
    let ca = ca.to_str().unwrap();

    // The CA file alone changes nothing: the compiled-in roots do not include it.
    let refused = tokio::task::block_in_place(|| aws_init(&front, &[("SSL_CERT_FILE", ca)]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "an untrusted endpoint was accepted"
    );
    assert_eq!(
        front.ok.load(Ordering::SeqCst),
        0,
        "no handshake completes: {stderr}"
    );
    assert!(front.failed.load(Ordering::SeqCst) >= 1, "{stderr}");

    // Opted in: the platform store (here, SSL_CERT_FILE) is trusted too.
    let done = tokio::task::block_in_place(|| {
        aws_init(
            &front,
            &[("SSL_CERT_FILE", ca), ("HOOKGATE_TLS_NATIVE_ROOTS", "1")],
        )
    });
    assert!(
        done.status.success(),
        "aws init over TLS: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("HOOKGATE_TABLE="),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
    assert!(front.ok.load(Ordering::SeqCst) >= 1);
}

/// An HTTP proxy on a free loopback port: `CONNECT` tunnels, and plain requests (absolute form)
/// relayed as they are. Records the head of each connection's first request.
struct Proxy {
    addr: SocketAddr,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            heads: Arc::default(),
        };
        let heads = proxy.heads.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let heads = heads.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let end = loop {
                        let mut chunk = [0u8; 4096];
                        let n = conn.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    heads.lock().unwrap().push(head.clone());
                    let mut target = head.split(' ').nth(1).unwrap_or("").to_owned();
                    let tunnel = head.starts_with("CONNECT ");
                    if !tunnel {
                        // http://host:port/path → host:port
                        target = target
                            .trim_start_matches("http://")
                            .split('/')
                            .next()
                            .unwrap_or("")
                            .to_owned();
                    }
                    let Ok(mut up) = tokio::net::TcpStream::connect(&target).await else {
                        let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    if tunnel {
                        let answer = b"HTTP/1.1 200 Connection established\r\n\r\n";
                        if conn.write_all(answer).await.is_err() {
                            return;
                        }
                        buf.drain(..end);
                    }
                    if up.write_all(&buf).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                    }
                });
            }
        });
        proxy
    }

    /// The proxy's URL, with credentials.
    fn url(&self) -> String {
        format!("http://hg:pr%40xy@127.0.0.1:{}", self.addr.port())
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// What [`Proxy::url`]'s credentials are sent as.
fn proxy_authorization() -> String {
    use base64::Engine;
    format!(
        "proxy-authorization: basic {}",
        base64::engine::general_purpose::STANDARD.encode("hg:pr@xy")
    )
    .to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_tunnel_through_the_https_proxy_unless_no_proxy_names_the_host() {
    let pki = pki();
    let front = TlsFront::start(&pki, moto_addr()).await;
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &pki);
    let ca = ca.to_str().unwrap();
    let trusted = [("SSL_CERT_FILE", ca), ("HOOKGATE_TLS_NATIVE_ROOTS", "1")];

    let url = proxy.url();
    let via_proxy = [trusted.as_slice(), &[("HTTPS_PROXY", url.as_str())]].concat();
    let done = tokio::task::block_in_place(|| aws_init(&front, &via_proxy));
    assert!(
        done.status.success(),
        "aws init through the proxy: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let heads = proxy.heads();
    let connect = format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n", front.addr.port());
    assert!(!heads.is_empty(), "nothing went through the proxy");
    for head in &heads {
        assert!(head.starts_with(&connect), "{head}");
        assert!(
            head.to_lowercase().contains(&proxy_authorization()),
            "{head}"
        );
    }
    assert!(
        front.ok.load(Ordering::SeqCst) >= 1,
        "TLS ran through the tunnel"
    );

    // NO_PROXY names the endpoint's host: straight to it.
    let before = heads.len();
    let direct = [via_proxy.as_slice(), &[("NO_PROXY", "127.0.0.1")]].concat();
    let done = tokio::task::block_in_place(|| aws_init(&front, &direct));
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(proxy.heads().len(), before, "{:?}", proxy.heads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_to_an_http_endpoint_go_to_the_http_proxy_in_absolute_form() {
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    std::fs::write(&config, "").unwrap();
    let moto = moto_addr();
    let out = tokio::task::block_in_place(|| {
        Command::new(hookgate_bin())
            .args(["aws", "init", "--prefix"])
            .arg(hookgate_shared::moto::unique_prefix("proxy"))
            .arg("--config")
            .arg(&config)
            .envs(moto_env())
            .env("HTTP_PROXY", proxy.url())
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "aws init through the proxy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let heads = proxy.heads();
    assert!(!heads.is_empty(), "nothing went through the proxy");
    for head in &heads {
        let absolute = format!("POST http://{moto}/ HTTP/1.1\r\n");
        assert!(head.starts_with(&absolute), "{head}");
        assert!(
            head.to_lowercase().contains(&proxy_authorization()),
            "{head}"
        );
    }
}

/// A plain HTTP receiver that records each request's body and answers 200.
async fn receiver() -> (SocketAddr, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let got: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(body.to_vec());
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_delivers_over_tls_to_a_private_ca_when_opted_in() {
    const SECRET: &str = "gh-tls-secret";
    let pki = pki();
    let (plain, got) = receiver().await;
    let front = TlsFront::start(&pki, plain).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), &pki);
    let config = format!(
        "[retry]\nbackoff_base = \"1s\"\nbackoff_max = \"1s\"\n\n[[sources]]\nname = \"github\"\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\n[[routes]]\nsource = \"github\"\nhandlers = [\"fwd\"]\n\n[handlers.fwd]\nkind = \"forward\"\nurl = \"{}/hook\"\ntimeout = \"5s\"\n",
        front.url()
    );

    // Untrusted: the delivery is accepted and stored, the forward fails on the handshake.
    let stack = Stack::start_env(&config, Backend::Sqlite, "info", &[]);
    let body = br#"{"zen":"untrusted"}"#;
    let (status, v) = send(&stack, "github", "github", SECRET, "d-tls-1", "ping", body).await;
    assert_eq!(status, 202, "{v}");
    let id = v["event_id"].as_str().unwrap().to_owned();
    let event =
        tokio::task::block_in_place(|| stack.wait_status(&id, "retrying", Duration::from_secs(20)));
    assert!(
        event.to_string().to_lowercase().contains("certificate"),
        "the failure names the certificate: {event}"
    );
    assert_eq!(front.ok.load(Ordering::SeqCst), 0);
    assert!(got.lock().unwrap().is_empty());
    drop(stack);

    // Opted in.
    let ca = ca.to_str().unwrap();
    let stack = Stack::start_env(
        &config,
        Backend::Sqlite,
        "info",
        &[("SSL_CERT_FILE", ca), ("HOOKGATE_TLS_NATIVE_ROOTS", "1")],
    );
    let body = br#"{"zen":"trusted"}"#;
    let (status, v) = send(&stack, "github", "github", SECRET, "d-tls-2", "ping", body).await;
    assert_eq!(status, 202, "{v}");
    let id = v["event_id"].as_str().unwrap().to_owned();
    tokio::task::block_in_place(|| stack.wait_status(&id, "succeeded", Duration::from_secs(20)));
    assert!(front.ok.load(Ordering::SeqCst) >= 1);
    assert_eq!(got.lock().unwrap().as_slice(), [body.to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_goes_through_the_environments_proxy() {
    const SECRET: &str = "gh-proxy-secret";
    let (plain, got) = receiver().await;
    let proxy = Proxy::start().await;
    let config = format!(
        "[[sources]]\nname = \"github\"\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\n[[routes]]\nsource = \"github\"\nhandlers = [\"fwd\"]\n\n[handlers.fwd]\nkind = \"forward\"\nurl = \"http://{plain}/hook\"\ntimeout = \"5s\"\n"
    );
    let url = proxy.url();
    let stack = Stack::start_env(&config, Backend::Sqlite, "info", &[("HTTP_PROXY", &url)]);
    let body = br#"{"zen":"proxied"}"#;
    let (status, v) = send(
        &stack,
        "github",
        "github",
        SECRET,
        "d-proxy-1",
        "ping",
        body,
    )
    .await;
    assert_eq!(status, 202, "{v}");
    let id = v["event_id"].as_str().unwrap().to_owned();
    tokio::task::block_in_place(|| stack.wait_status(&id, "succeeded", Duration::from_secs(20)));
    assert_eq!(got.lock().unwrap().as_slice(), [body.to_vec()]);
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("POST http://{plain}/hook HTTP/1.1\r\n")),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].to_lowercase().contains(&proxy_authorization()),
        "{}",
        heads[0]
    );
}
