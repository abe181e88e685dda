//! Outbound TLS: rustls on ring (for the AWS calls and `forward` alike, through
//! [`crate::outbound`], so a process links one TLS implementation), trusting a root set compiled
//! into the binary: Mozilla's, from `webpki-roots`, as trust anchors (subject and public key,
//! what rustls keeps of a root). Building a client therefore reads no file and parses no
//! certificate: the platform store (`/etc/ssl/certs`, one file per certificate on Debian) is not
//! scanned at start-up.
//!
//! Set [`NATIVE_ROOTS_ENV`] (`HOOKGATE_TLS_NATIVE_ROOTS=1`) to trust the platform's store as well
//! (it honours `SSL_CERT_FILE` and `SSL_CERT_DIR`), e.g. for a private CA in front of a `forward`
//! target or an AWS endpoint: it is then read once per client built.

use rustls::RootCertStore;
use rustls::pki_types::TrustAnchor;

/// Opt-in for the platform's root store, on top of the compiled-in one: `1`, `true` or `yes`.
pub const NATIVE_ROOTS_ENV: &str = "HOOKGATE_TLS_NATIVE_ROOTS";

/// Whether [`NATIVE_ROOTS_ENV`] asks for the platform's root store.
pub fn native_roots_enabled() -> bool {
    std::env::var(NATIVE_ROOTS_ENV)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// How many roots are compiled in.
pub fn builtin_root_count() -> usize {
    webpki_roots::TLS_SERVER_ROOTS.len()
}

/// Which compiled-in roots the AWS calls trust.
#[cfg(feature = "aws")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdkTrust {
    /// Amazon Trust Services' roots only ([`AMAZON_ROOTS`]): every AWS service endpoint's chain
    /// ends at one of them, so no other CA of the public set can vouch for an AWS endpoint.
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
            Self::for_custom_endpoint(
                std::env::vars_os()
                    .any(|(k, v)| !v.is_empty() && names_an_endpoint(k.as_encoded_bytes())),
            )
        })
    }

    /// [`SdkTrust::from_env`] over the names of the variables that are set (and not empty).
    pub fn for_variables(names: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        Self::for_custom_endpoint(
            names
                .into_iter()
                .any(|n| names_an_endpoint(n.as_ref().as_bytes())),
        )
    }

    /// [`SdkTrust::Mozilla`] for an endpoint that is configured (not AWS's own), else Amazon's
    /// roots.
    pub fn for_custom_endpoint(custom_endpoint: bool) -> Self {
        if custom_endpoint {
            Self::Mozilla
        } else {
            Self::AmazonTrustServices
        }
    }

    /// The trusted compiled-in roots, as trust anchors (nothing parsed).
    pub fn anchors(self) -> Vec<TrustAnchor<'static>> {
        let roots = webpki_roots::TLS_SERVER_ROOTS;
        match self {
            Self::Mozilla => roots.to_vec(),
            // Found in the same set at build time (`build.rs`).
            Self::AmazonTrustServices => AMAZON_ROOT_POSITIONS
                .iter()
                .filter_map(|&i| roots.get(i).cloned())
                .collect(),
        }
    }

    /// [`SdkTrust::anchors`], plus the platform's roots when [`native_roots_enabled`].
    pub fn root_store(self) -> RootCertStore {
        with_native_roots(self.anchors())
    }
}

/// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_<SERVICE>`.
#[cfg(feature = "aws")]
fn names_an_endpoint(name: &[u8]) -> bool {
    name == b"AWS_ENDPOINT_URL" || name.starts_with(b"AWS_ENDPOINT_URL_")
}

/// The roots AWS documents for its service endpoints (Amazon Trust Services): Amazon Root CA 1 to
/// 4, and Starfield Services Root Certificate Authority - G2, which cross-signs them for older
/// clients. Matched on their subject's common name, which a root's subject holds verbatim.
#[cfg(feature = "aws")]
pub const AMAZON_ROOTS: [&str; 5] = [
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

#[cfg(feature = "aws")]
include!(concat!(env!("OUT_DIR"), "/amazon_roots.rs"));

/// A root store of `anchors`, plus the platform's roots when [`native_roots_enabled`]
/// (certificates that do not parse are skipped, as rustls does; the counts are logged at debug
/// level).
fn with_native_roots(anchors: Vec<TrustAnchor<'static>>) -> RootCertStore {
    let mut roots = RootCertStore { roots: anchors };
    let builtin = roots.len();
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

/// Every compiled-in root, plus the platform's when [`native_roots_enabled`].
pub fn root_store() -> RootCertStore {
    with_native_roots(webpki_roots::TLS_SERVER_ROOTS.to_vec())
}

/// A rustls client configuration on ring trusting `roots` (no ALPN: the connector sets it).
pub fn client_config(roots: RootCertStore) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
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

    /// Whether a root's subject names `cn`.
    #[cfg(feature = "aws")]
    fn names(anchor: &TrustAnchor<'_>, cn: &str) -> bool {
        let subject: &[u8] = anchor.subject.as_ref();
        subject.windows(cn.len()).any(|w| w == cn.as_bytes())
    }

    #[cfg(feature = "aws")]
    #[test]
    fn amazon_trust_services_roots_are_the_five_aws_documents() {
        let anchors = SdkTrust::AmazonTrustServices.anchors();
        assert_eq!(anchors.len(), AMAZON_ROOTS.len());
        for cn in AMAZON_ROOTS {
            let n = anchors.iter().filter(|a| names(a, cn)).count();
            assert_eq!(n, 1, "{cn}");
        }
        // The build-time positions are the runtime set's: the same roots, in its order.
        let found: Vec<_> = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .filter(|a| AMAZON_ROOTS.iter().any(|cn| names(a, cn)))
            .cloned()
            .collect();
        assert_eq!(anchors, found);
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
    fn mozilla_is_the_whole_compiled_in_set() {
        assert_eq!(SdkTrust::Mozilla.anchors().len(), builtin_root_count());
        if !native_roots_enabled() {
            assert_eq!(SdkTrust::Mozilla.root_store().len(), builtin_root_count());
            assert_eq!(
                SdkTrust::AmazonTrustServices.root_store().len(),
                AMAZON_ROOTS.len()
            );
        }
    }

    #[test]
    fn root_store_holds_every_builtin_root() {
        // The variable is not set in the test environment: only the compiled-in roots.
        if !native_roots_enabled() {
            assert_eq!(root_store().len(), builtin_root_count());
        }
    }
}
