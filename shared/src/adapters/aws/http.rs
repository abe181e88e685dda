//! The one HTTP client every AWS SDK client of a process shares.
//!
//! The SDK's own connector (hyper 1, rustls) is kept, with three changes:
//! - rustls runs on ring rather than aws-lc-rs: the SDK crates are built without their
//!   `default-https-client` feature, so aws-lc is not linked (0.55 MB of each arm64 bootstrap);
//! - its trust store is compiled in ([`crate::tls::SdkTrust`]) instead of the platform's, which
//!   the SDK reads at client build (on Debian, `ca-certificates.crt` and then every file of
//!   `/etc/ssl/certs`): Amazon Trust Services' five roots for AWS's own endpoints, Mozilla's whole
//!   set when an `AWS_ENDPOINT_URL*` variable names another; `HOOKGATE_TLS_NATIVE_ROOTS=1` adds
//!   the platform's store;
//! - its TLS configuration is built once per process, for the connector the clients use, rather
//!   than once per SDK client built (the stock client builds a connector, root store included, in
//!   every client's config validation, and another on the first request).
//!
//! Everything else is the SDK's default: connect and read timeouts from the SDK config, proxies
//! from `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`, one connection pool per timeout setting.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Connector, HttpClientError};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::tls::SdkTrust;

/// The SDK's connect timeout for current behavior versions (3.1 s), set explicitly so that the
/// connector built at start-up is the one requests use.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The timeouts [`load_sdk_config`](super::load_sdk_config) sets: the SDK's defaults.
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

type Key = (Option<Duration>, Option<Duration>);

/// The process's client for these timeouts and roots (and the native-roots setting), built on
/// first use and shared after, so the SDK clients ([`load_sdk_config`](super::load_sdk_config))
/// and the signed REST calls ([`super::rest`]) build one TLS context, not one each.
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
    tls: TlsContext,
    proxy: ProxyConfig,
    timeouts: TimeoutConfig,
    connectors: Mutex<Vec<(Key, SharedHttpConnector)>>,
}

impl SdkHttpClient {
    /// Builds the TLS context and the connector for `timeouts`, trusting `roots` (no network
    /// call; no file read unless `HOOKGATE_TLS_NATIVE_ROOTS` is set).
    pub fn new(timeouts: &TimeoutConfig, roots: SdkTrust) -> Result<Self, HttpClientError> {
        let trust = TrustStore::empty()
            .with_native_roots(crate::tls::native_roots_enabled())
            .with_pem_certificate(roots.roots_pem());
        let client = Self {
            inner: Arc::new(Inner {
                tls: TlsContext::builder().with_trust_store(trust).build()?,
                proxy: ProxyConfig::from_env(),
                timeouts: timeouts.clone(),
                connectors: Mutex::new(Vec::new()),
            }),
        };
        client.connector(&settings(timeouts), None);
        Ok(client)
    }

    /// The connector for the timeouts the client was built with, for requests made without an
    /// SDK client (the payload bucket's).
    pub fn default_connector(&self) -> SharedHttpConnector {
        self.connector(&settings(&self.inner.timeouts), None)
    }

    /// As a `SharedHttpClient` for `SdkConfig` and client configs.
    pub fn shared(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// How many connectors (TLS configurations, connection pools) were built so far.
    pub fn connectors_built(&self) -> usize {
        self.connectors().len()
    }

    fn connectors(&self) -> std::sync::MutexGuard<'_, Vec<(Key, SharedHttpConnector)>> {
        self.inner
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connector for `settings`, built on first use; the TLS configuration (root store
    /// parsed) is built with it.
    fn connector(
        &self,
        settings: &HttpConnectorSettings,
        components: Option<&RuntimeComponents>,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors();
        if let Some((_, c)) = connectors.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let mut builder = Connector::builder()
            .connector_settings(settings.clone())
            .proxy_config(self.inner.proxy.clone());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        let connector = SharedHttpConnector::new(
            builder
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .tls_context(self.inner.tls.clone())
                .build(),
        );
        tracing::debug!(
            connect_timeout = ?key.0,
            read_timeout = ?key.1,
            "AWS SDK HTTP connector built"
        );
        connectors.push((key, connector.clone()));
        connector
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector(settings, Some(components))
    }

    // `validate_base_client_config` is left at its default (nothing): the connector was built
    // with the client, not once more per SDK client.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
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
