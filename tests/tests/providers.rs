//! Every provider kind through the real binary: `hookgate send SOURCE` signs a sample the way the
//! provider would and the local stack accepts it (202); `hookgate providers` lists every kind; a
//! Discord PING is answered without an event; a source whose allowlist excludes the peer is 403.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use hookgate_e2e::{Stack, post};
use hookgate_shared::verify::{self, PROVIDERS, discord_public_key, sendgrid_public_key};
use serde_json::Value;

const ED_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const P256: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config() -> String {
    let b64 = |h: &str| base64::engine::general_purpose::STANDARD.encode(hex::decode(h).unwrap());
    let ed_pub = discord_public_key(ED_SEED).unwrap();
    let mut out = String::new();
    for p in PROVIDERS {
        let (secret, extra) = match *p {
            "standard-webhooks" | "svix" | "clerk" | "resend" => (WHSEC.to_owned(), String::new()),
            "basic-auth" => ("hooks:p4ss".to_owned(), String::new()),
            "discord" => (
                ed_pub.clone(),
                format!("options = {{ signing_key = \"{ED_SEED}\" }}"),
            ),
            "sendgrid" => (
                sendgrid_public_key(P256).unwrap(),
                format!("options = {{ signing_key = \"{P256}\" }}"),
            ),
            "generic-hmac" => (
                "g-secret".to_owned(),
                "options = { header = \"X-Sig\", algorithm = \"sha512\", template = \"{timestamp}.{body}\", timestamp_header = \"X-Ts\" }".to_owned(),
            ),
            other => (format!("{other}-dev-secret"), String::new()),
        };
        out.push_str(&format!(
            "[[sources]]\nname = \"{p}\"\nprovider = \"{p}\"\nsecrets = [\"{secret}\"]\n{extra}\n\n"
        ));
    }
    out.push_str(&format!(
        "[[sources]]\nname = \"sw-v1a\"\nprovider = \"standard-webhooks\"\nsecrets = [\"whpk_{}\"]\noptions = {{ signing_key = \"whsk_{}\" }}\n\n",
        b64(&ed_pub),
        b64(ED_SEED)
    ));
    out.push_str("[[sources]]\nname = \"gitlab-signed\"\nprovider = \"gitlab\"\nsecrets = [\"");
    out.push_str(WHSEC);
    out.push_str("\"]\noptions = { signed = true }\n\n");
    out.push_str("[[sources]]\nname = \"denied\"\nprovider = \"github\"\nsecrets = [\"x\"]\nallow_ips = [\"203.0.113.0/24\"]\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_for_every_provider_kind_and_the_stack_accepts_it() {
    let stack = Stack::start(&config());
    let mut names: Vec<String> = PROVIDERS.iter().map(|p| (*p).to_owned()).collect();
    names.extend(["sw-v1a".to_owned(), "gitlab-signed".to_owned()]);
    for name in &names {
        let url = stack.url(name);
        let out = stack.cli(&["send", name, "--url", &url]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with("202 "),
            "{name}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every accepted delivery is stored once.
    assert_eq!(stack.events(&[]).len(), names.len());

    // The allowlist is checked against the TCP peer (127.0.0.1 here).
    let out = stack.cli(&["send", "denied", "--url", &stack.url("denied")]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("403 "));

    // A signed Discord PING is answered with a PONG and stores nothing.
    let ping = br#"{"id":"1","application_id":"2","type":1,"version":1,"token":"t"}"#;
    let v = verify::verifier_for("discord", &Default::default()).unwrap();
    let h = v.sign(ED_SEED, ping, "", hookgate_shared::clock::now_ms(), "", "");
    let (status, body) = post(&stack.url("discord"), &h, ping.to_vec()).await;
    assert_eq!((status, body), (200, serde_json::json!({"type": 1})));
    assert_eq!(stack.events(&[]).len(), names.len());

    // `hookgate providers` lists every kind with its headers.
    let out = stack.cli(&["providers", "-o", "json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["provider"].as_str().unwrap())
        .collect();
    assert_eq!(listed, PROVIDERS);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| !r["headers"].as_array().unwrap().is_empty())
    );
}
