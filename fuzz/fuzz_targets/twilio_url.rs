//! Twilio's URL port variants and signing string over arbitrary URLs and form bodies.
#![no_main]

use hookgate_shared::verify::{twilio_signing_string, twilio_url_variants};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (url, form) = s.split_once('\n').unwrap_or((s, ""));
    let variants = twilio_url_variants(url);
    assert_eq!(variants[0], url);
    let params: Vec<(String, String)> = form
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for v in &variants {
        assert!(twilio_signing_string(v, &params).starts_with(v.as_str()));
    }
});
