//! Finds Amazon Trust Services' roots in the compiled-in root set (`webpki-roots`) at build
//! time, as their positions in it (`crate::tls::SdkTrust::AmazonTrustServices`): searching the
//! set's subjects at start-up would cost each function's cold start for an answer known now.

use std::io::Write;

/// Amazon Root CA 1 to 4, and Starfield Services Root Certificate Authority - G2 (the subject
/// common names, which a root's subject holds verbatim). Kept equal to `crate::tls::AMAZON_ROOTS`
/// by a unit test there.
const AMAZON_ROOTS: [&str; 5] = [
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let positions: Vec<usize> = webpki_roots::TLS_SERVER_ROOTS
        .iter()
        .enumerate()
        .filter(|(_, root)| {
            let subject: &[u8] = root.subject.as_ref();
            AMAZON_ROOTS
                .iter()
                .any(|cn| subject.windows(cn.len()).any(|w| w == cn.as_bytes()))
        })
        .map(|(i, _)| i)
        .collect();
    if positions.len() != AMAZON_ROOTS.len() {
        return Err(format!(
            "webpki-roots holds {} of Amazon Trust Services' {} roots",
            positions.len(),
            AMAZON_ROOTS.len()
        )
        .into());
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("amazon_roots.rs");
    writeln!(
        std::fs::File::create(out)?,
        "/// Where Amazon Trust Services' roots are in `webpki_roots::TLS_SERVER_ROOTS`.\n\
         const AMAZON_ROOT_POSITIONS: [usize; {}] = {positions:?};",
        positions.len()
    )?;
    Ok(())
}
