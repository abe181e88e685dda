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

/// The compiled-in roots as one PEM document (what the AWS SDK's TLS context takes).
#[cfg(feature = "aws")]
pub fn builtin_roots_pem() -> Vec<u8> {
    use base64::Engine;
    let engine = &base64::engine::general_purpose::STANDARD;
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
    let mut pem = Vec::with_capacity(roots.iter().map(|c| c.len() * 4 / 3 + 64).sum());
    for cert in roots {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        pem.extend_from_slice(engine.encode(cert.as_ref()).as_bytes());
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

    #[cfg(feature = "aws")]
    #[test]
    fn builtin_pem_round_trips_to_the_same_certificates() {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = builtin_roots_pem();
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
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
