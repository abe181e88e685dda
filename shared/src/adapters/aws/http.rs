//! The one HTTP client every AWS call of a process shares: the signed requests
//! ([`super::rest`]) and the SDK clients (provisioning, credential providers) alike.
//!
//! It is hyper 1 with rustls on ring ([`crate::outbound`]), not the SDK's own connector, whose TLS
//! context takes its roots only as PEM: decoding and parsing them again at every start cost each
//! function ~0.27 M instructions of its cold start. Here the roots are compiled-in trust anchors
//! ([`crate::tls::SdkTrust`]): Amazon Trust Services' five for AWS's own endpoints, Mozilla's
//! whole set when an `AWS_ENDPOINT_URL*` variable names another; `HOOKGATE_TLS_NATIVE_ROOTS=1`
//! adds the platform's store. rustls on ring rather than aws-lc-rs: aws-lc is not linked.
//!
//! As the SDK's connector: connect and read timeouts from the SDK config, proxies from
//! `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` (CONNECT tunnels for AWS's https endpoints), one
//! connection pool per timeout setting, HTTP/1.1. Failures are classified as the SDK's: timeouts,
//! I/O (connect, reset, closed early: retried), the rest "other".

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use crate::outbound::{self, ConnectTimedOut, Proxies};
use crate::tls::SdkTrust;

/// The SDK's connect timeout for current behavior versions (3.1 s), set explicitly so that the
/// connector built at start-up is the one requests use.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Why the HTTP client could not be built (its TLS configuration).
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client's TLS configuration: {0}")]
pub struct HttpClientError(#[from] rustls::Error);

/// The timeouts [`load_sdk_config`](super::load_sdk_config) sets: the SDK's defaults.
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

type Key = (Option<Duration>, Option<Duration>);

/// The process's client for these timeouts and roots (and the native-roots setting), built on
/// first use and shared after, so the SDK clients ([`load_sdk_config`](super::load_sdk_config))
/// and the signed REST calls ([`super::rest`]) build one TLS configuration, not one each.
pub fn process_client(
    timeouts: &TimeoutConfig,
    roots: SdkTrust,
) -> Result<SdkHttpClient, HttpClientError> {
    type ProcessKey = (Key, SdkTrust, bool);
    static CLIENTS: Mutex<Vec<(ProcessKey, SdkHttpClient)>> = Mutex::new(Vec::new());
    let key = (
        (timeouts.connect_timeout(), timeouts.read_timeout()),
        roots,
        crate::tls::native_roots_enabled(),
    );
    let mut clients = CLIENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, c)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let client = SdkHttpClient::new(timeouts, roots)?;
    clients.push((key, client.clone()));
    Ok(client)
}

/// See the module documentation. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct SdkHttpClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tls: rustls::ClientConfig,
    proxies: Proxies,
    timeouts: TimeoutConfig,
    connectors: Mutex<Vec<(Key, SharedHttpConnector)>>,
}

impl SdkHttpClient {
    /// Builds the TLS configuration and the connector for `timeouts`, trusting `roots` (no
    /// network call; no file read unless `HOOKGATE_TLS_NATIVE_ROOTS` is set).
    pub fn new(timeouts: &TimeoutConfig, roots: SdkTrust) -> Result<Self, HttpClientError> {
        let client = Self {
            inner: Arc::new(Inner {
                tls: crate::tls::client_config(roots.root_store())?,
                proxies: Proxies::from_env(),
                timeouts: timeouts.clone(),
                connectors: Mutex::new(Vec::new()),
            }),
        };
        client.connector(&settings(timeouts));
        Ok(client)
    }

    /// The connector for the timeouts the client was built with, for requests made without an
    /// SDK client (the signed REST calls).
    pub fn default_connector(&self) -> SharedHttpConnector {
        self.connector(&settings(&self.inner.timeouts))
    }

    /// As a `SharedHttpClient` for `SdkConfig` and client configs.
    pub fn shared(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// How many connectors (connection pools) were built so far.
    pub fn connectors_built(&self) -> usize {
        self.connectors().len()
    }

    fn connectors(&self) -> std::sync::MutexGuard<'_, Vec<(Key, SharedHttpConnector)>> {
        self.inner
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connector for `settings`, built on first use.
    fn connector(&self, settings: &HttpConnectorSettings) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors();
        if let Some((_, c)) = connectors.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let connector = SharedHttpConnector::new(AwsConnector {
            client: outbound::client(outbound::connector(
                self.inner.tls.clone(),
                &self.inner.proxies,
                key.0,
            )),
            proxies: self.inner.proxies.clone(),
            read_timeout: key.1,
        });
        tracing::debug!(
            connect_timeout = ?key.0,
            read_timeout = ?key.1,
            "AWS HTTP connector built"
        );
        connectors.push((key, connector.clone()));
        connector
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector(settings)
    }

    // `validate_base_client_config` is left at its default (nothing): the connector was built
    // with the client, not once more per SDK client.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

/// One connection pool: sends a request, answers its response with the body still streaming.
#[derive(Debug)]
struct AwsConnector {
    client: hyper_util::client::legacy::Client<outbound::Connector, SdkBody>,
    proxies: Proxies,
    /// From sending the request to the response's head.
    read_timeout: Option<Duration>,
}

impl HttpConnector for AwsConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        self.proxies.authorize(&mut request);
        let sending = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sending).await.map_err(|_| {
                    ConnectorError::timeout(
                        format!("no response within the read timeout ({limit:?})").into(),
                    )
                })?,
                None => sending.await,
            }
            .map_err(connector_error)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's classification of a failed send: a timeout, I/O (retried as transient), or other.
fn connector_error(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if outbound::cause::<ConnectTimedOut>(&error).is_some() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect()
        || outbound::cause::<std::io::Error>(&error).is_some()
        || outbound::cause::<hyper::Error>(&error)
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed())
    {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

fn settings(timeouts: &TimeoutConfig) -> HttpConnectorSettings {
    let mut b = HttpConnectorSettings::builder();
    b.set_connect_timeout(timeouts.connect_timeout());
    b.set_read_timeout(timeouts.read_timeout());
    b.build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn one_process_client_per_timeouts_and_roots() {
        let t = default_timeouts();
        let a = process_client(&t, SdkTrust::Mozilla).unwrap();
        let b = process_client(&t, SdkTrust::Mozilla).unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner), "shared, not built twice");
        let amazon = process_client(&t, SdkTrust::AmazonTrustServices).unwrap();
        assert!(
            !Arc::ptr_eq(&a.inner, &amazon.inner),
            "other roots, other client"
        );
        let slow = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(9))
            .build();
        let c = process_client(&slow, SdkTrust::Mozilla).unwrap();
        assert!(
            !Arc::ptr_eq(&a.inner, &c.inner),
            "other timeouts, other client"
        );
    }

    /// A listener that accepts connections and never answers: no TLS handshake, no response.
    async fn silent_listener() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                open.push(conn);
            }
        });
        addr
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::try_from(http::Request::get(url).body(SdkBody::empty()).unwrap()).unwrap()
    }

    fn client(connect: Duration, read: Option<Duration>) -> SdkHttpClient {
        let mut timeouts = TimeoutConfig::builder().connect_timeout(connect);
        if let Some(read) = read {
            timeouts = timeouts.read_timeout(read);
        }
        SdkHttpClient::new(&timeouts.build(), SdkTrust::Mozilla).unwrap()
    }

    /// How a GET of `url` through `client` fails (within 5 s: a timeout that does not work
    /// fails the test rather than hanging it).
    async fn failure(client: &SdkHttpClient, url: &str) -> ConnectorError {
        let call = client.default_connector().call(get(url));
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("the call ended within 5 s")
            .unwrap_err()
    }

    #[tokio::test]
    async fn the_connect_timeout_covers_the_tls_handshake() {
        let addr = silent_listener().await;
        let client = client(Duration::from_millis(300), None);
        let error = failure(&client, &format!("https://127.0.0.1:{}/", addr.port())).await;
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn the_read_timeout_bounds_the_wait_for_an_answer() {
        let addr = silent_listener().await;
        let client = client(CONNECT_TIMEOUT, Some(Duration::from_millis(300)));
        let error = failure(&client, &format!("http://127.0.0.1:{}/", addr.port())).await;
        assert!(error.is_timeout(), "{error:?}");
        assert!(
            error.to_string().contains("read timeout")
                || format!("{error:?}").contains("read timeout"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_failure() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let client = client(CONNECT_TIMEOUT, None);
        let error = failure(&client, &format!("http://127.0.0.1:{}/", addr.port())).await;
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn every_sdk_client_uses_the_connector_built_with_the_client() {
        // An "AWS" endpoint that counts requests and refuses them (400: no retry).
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (axum::http::StatusCode::BAD_REQUEST, "{}")
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });

        let client = SdkHttpClient::new(&default_timeouts(), SdkTrust::Mozilla).unwrap();
        assert_eq!(client.connectors_built(), 1, "built with the client");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(default_timeouts())
            .http_client(client.shared())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .endpoint_url(format!("http://{addr}"))
            .load()
            .await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        assert_eq!(
            client.connectors_built(),
            1,
            "building SDK clients builds none"
        );
        assert!(dynamodb.list_tables().send().await.is_err());
        assert!(sqs.list_queues().send().await.is_err());
        assert!(hits.load(Ordering::SeqCst) >= 2, "the requests went out");
        assert_eq!(
            client.connectors_built(),
            1,
            "the requests used the connector built at start-up"
        );
    }
}
