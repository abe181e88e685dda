//! Outbound TLS: rustls on ring (the AWS SDK clients' stack too, through
//! [`crate::adapters::aws::http`], so a process links one TLS implementation), trusting a root set compiled into the binary (Mozilla's, from
//! `webpki-root-certs`). Building a client therefore reads no file: the platform store
//! (`/etc/ssl/certs`, one file per certificate on Debian) is not scanned at start-up.
//!
//! Set [`NATIVE_ROOTS_ENV`] (`HOOKGATE_TLS_NATIVE_ROOTS=1`) to trust the platform's store as well
//! (it honours `SSL_CERT_FILE` and `SSL_CERT_DIR`), e.g. for a private CA in front of a `forward`
//! target or an AWS endpoint: it is then read once per process, when the clients are built.

/// Opt-in for the platform's root store, on top of the compiled-in one: `1`, `true` or `yes`.
pub const NATIVE_ROOTS_ENV: &str = "HOOKGATE_TLS_NATIVE_ROOTS";

/// Whether [`NATIVE_ROOTS_ENV`] asks for the platform's root store.
pub fn native_roots_enabled() -> bool {
    std::env::var(NATIVE_ROOTS_ENV)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// How many roots are compiled in.
pub fn builtin_root_count() -> usize {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
}

/// Which compiled-in roots the AWS SDK clients trust.
#[cfg(feature = "aws")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkTrust {
    /// Amazon Trust Services' roots only ([`AMAZON_ROOTS`]): every AWS service endpoint's chain
    /// ends at one of them, so no other CA of the public set can vouch for an AWS endpoint, and
    /// start-up parses 5 certificates instead of the whole set.
    AmazonTrustServices,
    /// Mozilla's whole set: for endpoints that are not AWS's own (`AWS_ENDPOINT_URL*`).
    Mozilla,
}

#[cfg(feature = "aws")]
impl SdkTrust {
    /// [`SdkTrust::Mozilla`] when any `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_<SERVICE>` variable
    /// is set (a custom endpoint may be served under any public CA), else Amazon's roots.
    /// Read once per process (each client asks; the environment does not change).
    pub fn from_env() -> Self {
        static FROM_ENV: std::sync::OnceLock<SdkTrust> = std::sync::OnceLock::new();
        *FROM_ENV.get_or_init(|| {
            Self::of(
                std::env::vars_os()
                    .any(|(k, v)| !v.is_empty() && names_an_endpoint(k.as_encoded_bytes())),
            )
        })
    }

    /// [`SdkTrust::from_env`] over the names of the variables that are set (and not empty).
    pub fn for_variables(names: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        Self::of(
            names
                .into_iter()
                .any(|n| names_an_endpoint(n.as_ref().as_bytes())),
        )
    }

    fn of(custom_endpoint: bool) -> Self {
        if custom_endpoint {
            Self::Mozilla
        } else {
            Self::AmazonTrustServices
        }
    }

    /// The trusted compiled-in roots, as one PEM document (what the SDK's TLS context takes).
    pub fn roots_pem(self) -> Vec<u8> {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        match self {
            Self::Mozilla => pem(roots.iter().map(|c| c.as_ref())),
            // Picked out of the same set at build time (`build.rs`).
            Self::AmazonTrustServices => AMAZON_ROOTS_PEM.to_vec(),
        }
    }
}

/// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_<SERVICE>`.
#[cfg(feature = "aws")]
fn names_an_endpoint(name: &[u8]) -> bool {
    name == b"AWS_ENDPOINT_URL" || name.starts_with(b"AWS_ENDPOINT_URL_")
}

/// The roots AWS documents for its service endpoints (Amazon Trust Services): Amazon Root CA 1 to
/// 4, and Starfield Services Root Certificate Authority - G2, which cross-signs them for older
/// clients. Matched on their subject's common name, which a root's DER holds verbatim.
#[cfg(feature = "aws")]
pub const AMAZON_ROOTS: [&str; 5] = [
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

/// [`AMAZON_ROOTS`], in the order of the compiled-in set, as one PEM document.
#[cfg(feature = "aws")]
const AMAZON_ROOTS_PEM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/amazon_roots.pem"));

#[cfg(feature = "aws")]
fn pem<'a>(ders: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    use base64::Engine;
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut pem = Vec::new();
    for der in ders {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        pem.extend_from_slice(engine.encode(der).as_bytes());
        pem.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
    }
    pem
}

/// A rustls root store: the compiled-in roots, plus the platform's when
/// [`native_roots_enabled`]. Certificates that do not parse are skipped (as rustls does for the
/// platform store); the counts are logged at debug level.
#[cfg(feature = "handler-forward")]
pub fn root_store() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let (builtin, _) =
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    let mut native = 0;
    if native_roots_enabled() {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "reading the platform's root certificates");
        }
        (native, _) = roots.add_parsable_certificates(found.certs);
    }
    tracing::debug!(builtin, native, "TLS root store built");
    roots
}

/// A rustls client configuration on ring with [`root_store`] (no ALPN: the connector sets
/// it).
#[cfg(feature = "handler-forward")]
pub fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(root_store())
        .with_no_client_auth())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roots_are_there() {
        // Mozilla's program has well over 100 roots; an empty or truncated set would fail every
        // HTTPS call.
        assert!(builtin_root_count() > 100, "{}", builtin_root_count());
    }

    /// The certificates of a PEM document, in order.
    #[cfg(feature = "aws")]
    fn certificates(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[cfg(feature = "aws")]
    #[test]
    fn amazon_trust_services_roots_are_the_five_aws_documents() {
        let certs = certificates(&SdkTrust::AmazonTrustServices.roots_pem());
        assert_eq!(certs.len(), AMAZON_ROOTS.len());
        for cn in AMAZON_ROOTS {
            let n = certs
                .iter()
                .filter(|c| c.as_ref().windows(cn.len()).any(|w| w == cn.as_bytes()))
                .count();
            assert_eq!(n, 1, "{cn}");
        }
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(certs), (5, 0));
        // The build-time selection is the runtime set's: the same certificates, in its order.
        let picked = pem(webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .filter(|der| {
                AMAZON_ROOTS
                    .iter()
                    .any(|cn| der.windows(cn.len()).any(|w| w == cn.as_bytes()))
            }));
        assert_eq!(SdkTrust::AmazonTrustServices.roots_pem(), picked);
        let build_names = include_str!("../build.rs");
        for cn in AMAZON_ROOTS {
            assert!(build_names.contains(&format!("{cn:?}")), "{cn} in build.rs");
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn a_custom_endpoint_trusts_the_whole_set() {
        assert_eq!(
            SdkTrust::for_variables(["AWS_REGION", "HOME"]),
            SdkTrust::AmazonTrustServices
        );
        assert_eq!(
            SdkTrust::for_variables(["AWS_ENDPOINT_URL"]),
            SdkTrust::Mozilla
        );
        assert_eq!(
            SdkTrust::for_variables(["AWS_ENDPOINT_URL_DYNAMODB"]),
            SdkTrust::Mozilla
        );
        assert_eq!(
            SdkTrust::for_variables(["AWS_ENDPOINT_URLS"]),
            SdkTrust::AmazonTrustServices
        );
    }

    #[cfg(feature = "aws")]
    #[test]
    fn builtin_pem_round_trips_to_the_same_certificates() {
        let back = certificates(&SdkTrust::Mozilla.roots_pem());
        assert_eq!(back.len(), builtin_root_count());
        for (a, b) in back.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(a.as_ref(), b.as_ref());
        }
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(back);
        assert_eq!(invalid, 0);
        assert_eq!(valid, builtin_root_count());
    }

    #[cfg(feature = "handler-forward")]
    #[test]
    fn root_store_holds_every_builtin_root() {
        // The variable is not set in the test environment: only the compiled-in roots.
        if !native_roots_enabled() {
            assert_eq!(root_store().len(), builtin_root_count());
        }
    }
}
