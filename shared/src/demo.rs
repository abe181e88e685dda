//! The built-in demo config `hookgate serve` uses without `--config`: three sources with
//! development secrets (printed by the README and by `serve`), a `log` route each. Never use these
//! secrets for a real endpoint.

/// GitHub source secret in the demo config.
pub const GITHUB_SECRET: &str = "hookgate-dev-github-secret";
/// Stripe endpoint secret in the demo config (used as-is, like Stripe does).
pub const STRIPE_SECRET: &str = "whsec_hookgate_dev_stripe_secret";
/// Standard Webhooks secret in the demo config (base64 of `hookgate-dev-standard-webhooks`).
pub const STANDARD_WEBHOOKS_SECRET: &str = "whsec_aG9va2dhdGUtZGV2LXN0YW5kYXJkLXdlYmhvb2tz";

pub fn config_text() -> String {
    format!(
        r#"# hookgate demo config (built in; `hookgate serve --config FILE` replaces it)
[queue]
max_receive_count = 5
visibility_timeout = "30s"

[retry]
backoff_base = "2s"
backoff_max = "15m"

[[sources]]
name = "github"
provider = "github"
secrets = ["{GITHUB_SECRET}"]

[[sources]]
name = "stripe"
provider = "stripe"
secrets = ["{STRIPE_SECRET}"]

[[sources]]
name = "standard-webhooks"
provider = "standard-webhooks"
secrets = ["{STANDARD_WEBHOOKS_SECRET}"]

[[routes]]
source = "github"
handlers = ["log"]

[[routes]]
source = "stripe"
handlers = ["log"]

[[routes]]
source = "standard-webhooks"
handlers = ["log"]

[handlers.log]
kind = "log"
"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_config_is_valid() {
        let c = crate::config::Config::parse(&super::config_text(), "demo").unwrap();
        assert_eq!(c.sources.len(), 3);
        assert_eq!(c.routes.len(), 3);
    }
}
