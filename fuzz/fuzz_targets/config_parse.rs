//! The config parser (sources with provider options, allowlists, public URLs) over arbitrary text.
#![no_main]

use hookgate_shared::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, "fuzz");
    }
});
