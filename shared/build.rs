//! Picks Amazon Trust Services' roots out of the compiled-in root set at build time, as the PEM
//! document the AWS SDK's TLS context takes (`crate::tls::SdkTrust::AmazonTrustServices`): at
//! start-up that selection and encoding cost each function about 0.3 M instructions of its cold
//! start.

use std::io::Write;

/// Amazon Root CA 1 to 4, and Starfield Services Root Certificate Authority - G2 (the subject
/// common names, which a root's DER holds verbatim). Kept equal to `crate::tls::AMAZON_ROOTS`
/// by a unit test there.
const AMAZON_ROOTS: [&str; 5] = [
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    use base64::Engine;
    println!("cargo::rerun-if-changed=build.rs");
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut pem = Vec::new();
    let mut found = 0;
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let der: &[u8] = der.as_ref();
        let named = AMAZON_ROOTS
            .iter()
            .any(|cn| der.windows(cn.len()).any(|w| w == cn.as_bytes()));
        if named {
            found += 1;
            pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            pem.extend_from_slice(engine.encode(der).as_bytes());
            pem.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
        }
    }
    if found != AMAZON_ROOTS.len() {
        return Err(format!(
            "webpki-root-certs holds {found} of Amazon Trust Services' {} roots",
            AMAZON_ROOTS.len()
        )
        .into());
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("amazon_roots.pem");
    std::fs::File::create(out)?.write_all(&pem)?;
    Ok(())
}
