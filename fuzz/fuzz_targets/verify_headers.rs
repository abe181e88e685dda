//! Every provider kind's verifier, identify and handshake over arbitrary header values and bodies:
//! no panic, and nothing is ever accepted without a valid signature for the secret "s".
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use hookgate_shared::secrets::SecretValue;
use hookgate_shared::verify::{self, KeyedSecret, PROVIDERS, VerifyRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let provider = PROVIDERS[usize::from(pick) % PROVIDERS.len()];
    let mut opts = BTreeMap::new();
    if provider == "generic-hmac" {
        opts.insert("header".to_owned(), toml::Value::from("X-Sig"));
        opts.insert(
            "template".to_owned(),
            toml::Value::from("{timestamp}.{body}"),
        );
        opts.insert("timestamp_header".to_owned(), toml::Value::from("X-Ts"));
    }
    let Ok(v) = verify::build_verifier(provider, &opts) else {
        return;
    };
    // Header values, split on 0xFF, one per expected header; then the body.
    let mut parts = rest.split(|b| *b == 0xFF);
    let mut headers = http::HeaderMap::new();
    for name in v.expected_headers() {
        let (Ok(n), Some(raw)) = (http::HeaderName::from_bytes(name.as_bytes()), parts.next())
        else {
            continue;
        };
        if let Ok(val) = http::HeaderValue::from_bytes(raw) {
            headers.append(n, val);
        }
    }
    let body: Vec<u8> = parts.flatten().copied().collect();
    let req = VerifyRequest {
        method: "POST",
        url: "https://hooks.example.com/webhooks/x?y=1",
        headers: &headers,
        body: &body,
        now: 1_700_000_000_000,
    };
    let keys = [KeyedSecret {
        label: "k".into(),
        value: SecretValue::new("s"),
    }];
    let _ = v.verify(&req, &keys, Duration::from_secs(300));
    let _ = v.identify(&req);
    let _ = v.handshake(&req, &keys[0]);
});
