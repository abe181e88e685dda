//! The Lambda functions' SDK configuration, read from the environment Lambda gives a function,
//! without aws-config's loader.
//!
//! On Lambda every setting the functions need is an environment variable: the region
//! (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and whatever the deployer adds
//! (`AWS_ENDPOINT_URL[_<SERVICE>]`, `AWS_USE_FIPS_ENDPOINT`, `AWS_MAX_ATTEMPTS`…). aws-config's
//! loader reads those too, but it links the whole default chain to do it (profile files, web
//! identity and SSO-less assume-role through an STS client, IMDS, ECS): about 0.64 MB of each
//! x86_64 bootstrap, and the profile files' lookups at every cold start, for sources a function
//! never has. [`super::load_sdk_config`] (the CLI's) keeps the chain.
//!
//! Read here, with the loader's names and meanings: the region (`AWS_REGION`, else
//! `AWS_DEFAULT_REGION`); credentials from the environment, else from the container credentials
//! endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` / `_RELATIVE_URI`, read by
//! [`super::container_credentials`], not by aws-config's provider); endpoint URLs, global and
//! per service (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`,
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`); `AWS_USE_FIPS_ENDPOINT`,
//! `AWS_USE_DUALSTACK_ENDPOINT`; `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`; `AWS_SDK_UA_APP_ID`. A
//! value that does not parse is an error that names it, not a silent default.

use aws_config::retry::RetryConfig;
use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use super::HttpClientError;
use super::container_credentials::{ContainerConfigError, ContainerCredentials};
use super::http;
use crate::tls::SdkTrust;

/// Why the environment does not make an SDK configuration.
#[derive(Debug, thiserror::Error)]
pub enum EnvConfigError {
    #[error("no AWS region: set AWS_REGION (Lambda sets it)")]
    MissingRegion,
    #[error(
        "no AWS credentials in the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda \
         sets them), or AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    )]
    MissingCredentials,
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Container(#[from] ContainerConfigError),
    #[error("cannot build the AWS SDK's HTTP client: {0}")]
    HttpClient(#[from] HttpClientError),
}

/// The process environment as an SDK configuration (see the module documentation). No network
/// call, no file read.
pub fn sdk_config_from_env() -> Result<SdkConfig, EnvConfigError> {
    sdk_config_from_vars(|name| std::env::var(name).ok())
}

/// As [`sdk_config_from_env`], with `var` in place of the process environment.
pub fn sdk_config_from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<SdkConfig, EnvConfigError> {
    let get = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let region = get("AWS_REGION")
        .or_else(|| get("AWS_DEFAULT_REGION"))
        .ok_or(EnvConfigError::MissingRegion)?;
    let ignore_endpoints = flag(&get, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")?.unwrap_or(false);
    let endpoints = EnvEndpoints::read(&get, ignore_endpoints);
    // Mozilla's roots when an endpoint this process may call is configured (the variables just
    // read, not a scan of the whole environment: SdkTrust::from_env).
    let trust = SdkTrust::for_custom_endpoint(
        endpoints.global.is_some() || !endpoints.per_service.is_empty(),
    );
    let timeouts = http::default_timeouts();
    let client = http::process_client(&timeouts, trust)?;
    let credentials = if let (Some(key), Some(secret)) =
        (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"))
    {
        // The execution role's keys stay the same for the life of the process (what the SDK's
        // environment provider would read again on every call).
        SharedCredentialsProvider::new(Credentials::new(
            key,
            secret,
            get("AWS_SESSION_TOKEN"),
            None,
            "Environment",
        ))
    } else if let Some(container) =
        ContainerCredentials::from_vars(get, client.default_connector())?
    {
        SharedCredentialsProvider::new(container)
    } else {
        return Err(EnvConfigError::MissingCredentials);
    };
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(credentials)
        .http_client(client.shared())
        .timeout_config(timeouts)
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .retry_config(retry_config(&get)?);
    if let Some(url) = endpoints.global.clone() {
        sdk = sdk.endpoint_url(url);
    }
    sdk = sdk.service_config(endpoints);
    if let Some(fips) = flag(&get, "AWS_USE_FIPS_ENDPOINT")? {
        sdk = sdk.use_fips(fips);
    }
    if let Some(dual) = flag(&get, "AWS_USE_DUALSTACK_ENDPOINT")? {
        sdk = sdk.use_dual_stack(dual);
    }
    if let Some(app) = get("AWS_SDK_UA_APP_ID") {
        let name = AppName::new(app.clone()).map_err(|_| EnvConfigError::Invalid {
            name: "AWS_SDK_UA_APP_ID",
            value: app,
            reason: "not a valid app name (letters, digits and !#$%&'*+-.^_`|~, at most 50)",
        })?;
        sdk = sdk.app_name(name);
    }
    Ok(sdk.build())
}

/// `true` / `false` (any case), as the loader reads its boolean settings.
fn flag(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<bool>, EnvConfigError> {
    let Some(value) = get(name) else {
        return Ok(None);
    };
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(EnvConfigError::Invalid {
            name,
            value,
            reason: "expected true or false",
        }),
    }
}

/// `AWS_RETRY_MODE` (`standard`, `adaptive`; `legacy` is read as `standard`, as the SDK does)
/// and `AWS_MAX_ATTEMPTS` (at least 1); the SDK's standard mode, three attempts, otherwise.
fn retry_config(get: &impl Fn(&str) -> Option<String>) -> Result<RetryConfig, EnvConfigError> {
    let mut config = match get("AWS_RETRY_MODE").map(|m| m.to_ascii_lowercase()) {
        None => RetryConfig::standard(),
        Some(m) if m == "standard" || m == "legacy" => RetryConfig::standard(),
        Some(m) if m == "adaptive" => RetryConfig::adaptive(),
        Some(m) => {
            return Err(EnvConfigError::Invalid {
                name: "AWS_RETRY_MODE",
                value: m,
                reason: "expected standard or adaptive",
            });
        }
    };
    if let Some(raw) = get("AWS_MAX_ATTEMPTS") {
        let attempts =
            raw.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(EnvConfigError::Invalid {
                    name: "AWS_MAX_ATTEMPTS",
                    value: raw,
                    reason: "expected a whole number of attempts, at least 1",
                })?;
        config = config.with_max_attempts(attempts);
    }
    Ok(config)
}

/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (the service id in upper case, spaces as
/// `_`, e.g. `AWS_ENDPOINT_URL_DYNAMODB`), read once, for the SDK clients' service config.
#[derive(Debug, Clone, Default)]
struct EnvEndpoints {
    global: Option<String>,
    per_service: Vec<(String, String)>,
}

impl EnvEndpoints {
    /// The services a function may call (SDK clients and signed requests).
    const SERVICES: &'static [&'static str] = &[
        "DYNAMODB",
        "SQS",
        "SECRETS_MANAGER",
        "S3",
        "LAMBDA",
        "EVENTBRIDGE",
    ];

    fn read(get: &impl Fn(&str) -> Option<String>, ignore: bool) -> Self {
        if ignore {
            return Self::default();
        }
        Self {
            global: get("AWS_ENDPOINT_URL"),
            per_service: Self::SERVICES
                .iter()
                .filter_map(|s| get(&format!("AWS_ENDPOINT_URL_{s}")).map(|v| ((*s).to_owned(), v)))
                .collect(),
        }
    }
}

impl LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        self.per_service
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, url)| url.clone())
            .or_else(|| self.global.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<SdkConfig, EnvConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        sdk_config_from_vars(|name| vars.get(name).cloned())
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        LAMBDA.iter().chain(extra).copied().collect()
    }

    fn dynamodb_endpoint(sdk: &SdkConfig) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id("DynamoDB")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        sdk.service_config().and_then(|c| c.load_config(key))
    }

    #[tokio::test]
    async fn lambdas_environment_makes_the_config() {
        let sdk = config(LAMBDA).unwrap();
        assert_eq!(sdk.region().unwrap().as_ref(), "eu-west-1");
        assert!(sdk.http_client().is_some() && sdk.sleep_impl().is_some());
        assert_eq!(sdk.retry_config().unwrap().max_attempts(), 3);
        assert_eq!((sdk.use_fips(), sdk.use_dual_stack()), (None, None));
        assert_eq!(sdk.endpoint_url(), None);
        assert_eq!(dynamodb_endpoint(&sdk), None);
        use aws_credential_types::provider::ProvideCredentials;
        let keys = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(
            (
                keys.access_key_id(),
                keys.secret_access_key(),
                keys.session_token()
            ),
            ("ASIAEXAMPLE", "secret", Some("token"))
        );
        // Lambda sets AWS_REGION; AWS_DEFAULT_REGION alone will do.
        let sdk = config(&[
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
        ])
        .unwrap();
        assert_eq!(sdk.region().unwrap().as_ref(), "us-east-2");
    }

    #[test]
    fn what_is_missing_or_unreadable_is_named() {
        assert!(matches!(
            config(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]),
            Err(EnvConfigError::MissingRegion)
        ));
        assert!(matches!(
            config(&[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "a")]),
            Err(EnvConfigError::MissingCredentials)
        ));
        for (name, value) in [
            ("AWS_MAX_ATTEMPTS", "0"),
            ("AWS_MAX_ATTEMPTS", "three"),
            ("AWS_RETRY_MODE", "eager"),
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "y"),
            ("AWS_SDK_UA_APP_ID", "not an app name"),
        ] {
            let err = config(&with(&[(name, value)])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("{name}=\"{value}\"")),
                "{name}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn the_deployers_settings_are_read() {
        let sdk = config(&with(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_USE_FIPS_ENDPOINT", "TRUE"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "false"),
            ("AWS_MAX_ATTEMPTS", "5"),
            ("AWS_RETRY_MODE", "adaptive"),
            ("AWS_SDK_UA_APP_ID", "hookgate-prod"),
        ]))
        .unwrap();
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            dynamodb_endpoint(&sdk).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            (sdk.use_fips(), sdk.use_dual_stack()),
            (Some(true), Some(false))
        );
        let retry = sdk.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 5);
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        assert_eq!(sdk.app_name().unwrap().as_ref(), "hookgate-prod");

        // Without a per-service URL, the global one; with the ignore switch, neither.
        let sdk = config(&with(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")])).unwrap();
        assert_eq!(
            dynamodb_endpoint(&sdk).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let sdk = config(&with(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]))
        .unwrap();
        assert_eq!((sdk.endpoint_url(), dynamodb_endpoint(&sdk)), (None, None));
    }

    #[tokio::test]
    async fn the_signed_calls_read_the_same_endpoint_settings() {
        use crate::adapters::aws::rest::{RestClient, Service};
        let base = |sdk: &SdkConfig, service| {
            let client = RestClient::from_sdk(sdk, service).unwrap();
            (client.endpoint().base.clone(), client.endpoint().custom)
        };
        let sdk = config(&with(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4584/"),
        ]))
        .unwrap();
        assert_eq!(
            base(&sdk, Service::Sqs),
            ("http://127.0.0.1:9324".into(), true)
        );
        assert_eq!(
            base(&sdk, Service::SecretsManager),
            ("http://127.0.0.1:4584".into(), true)
        );
        assert_eq!(
            base(&sdk, Service::S3),
            ("http://127.0.0.1:5000".into(), true)
        );
        let sdk = config(&with(&[
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9324"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
        ]))
        .unwrap();
        assert_eq!(
            base(&sdk, Service::Sqs),
            ("https://sqs-fips.eu-west-1.amazonaws.com".into(), false)
        );
    }

    #[tokio::test]
    async fn container_credentials_are_the_fallback() {
        let sdk = config(&[
            ("AWS_REGION", "eu-west-1"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:1/credentials",
            ),
        ])
        .unwrap();
        assert!(sdk.credentials_provider().is_some());
        // A plain-http endpoint off this host is refused when the config is read, as the SDK
        // refuses it.
        let e = config(&[
            ("AWS_REGION", "eu-west-1"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.0.0.5/credentials",
            ),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            "{e}"
        );
    }
}
