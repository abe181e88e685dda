//! The signature-header parser shared by the HMAC kinds (`sha256=…`, `v1=…,v1=…`,
//! `t=…,v1=…`, `ts=…;h1=…`), in hex and base64.
#![no_main]

use hookgate_shared::verify::{Enc, SigFormat, parse_sig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let formats = [
        SigFormat::Plain {
            prefix: "sha256=".into(),
            list: false,
        },
        SigFormat::Plain {
            prefix: "v1=".into(),
            list: true,
        },
        SigFormat::Pairs {
            sep: ',',
            ts_key: "t",
            sig_key: "v1",
        },
        SigFormat::Pairs {
            sep: ';',
            ts_key: "ts",
            sig_key: "h1",
        },
    ];
    for f in &formats {
        for enc in [Enc::Hex, Enc::Base64] {
            if let Ok((tags, ts)) = parse_sig(f, enc, raw) {
                assert!(!tags.is_empty());
                if matches!(f, SigFormat::Pairs { .. }) {
                    assert!(ts.is_some());
                }
            }
        }
    }
});
