//! Secrets Manager as the remote [`SecretStore`] behind `secretsmanager:` references.
//!
//! One operation, `GetSecretValue`, sent as a signed AWS JSON 1.1 request ([`RestClient`]) rather
//! than through `aws-sdk-secretsmanager`: that crate's client parsed its own copy of AWS's
//! partition table at every cold start, for one call made once per secret and TTL.

use async_trait::async_trait;
use serde::Deserialize;

use super::rest::{RestClient, RestRequest, Service};
use crate::secrets::SecretStore;

/// Reads secrets with `GetSecretValue` (the `SecretString`).
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    /// `Err` says why Secrets Manager cannot be called (no region, a bad endpoint URL): every
    /// fetch then fails with it, and a process that reads no such secret is not held up.
    client: Result<RestClient, String>,
}

/// The part of `GetSecretValue`'s answer that is used.
#[derive(Deserialize)]
struct SecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

impl SecretsManagerStore {
    /// From the SDK config's region, credentials, endpoint settings and retry settings. No
    /// network call.
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: RestClient::from_sdk(sdk, Service::SecretsManager),
        }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn fetch(&self, id: &str) -> Result<String, String> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| format!("GetSecretValue: Secrets Manager cannot be called: {e}"))?;
        let request = RestRequest::aws_json(
            "1.1",
            "secretsmanager.GetSecretValue".into(),
            &serde_json::json!({ "SecretId": id }),
        );
        let answer = client
            .send("GetSecretValue", &client.endpoint().base, &request)
            .await
            .map_err(|e| e.to_string())?;
        let value: SecretValue = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("GetSecretValue: unreadable answer for `{id}`: {e}"))?;
        value.secret_string.ok_or_else(|| {
            format!("secret `{id}` has no string value (binary secrets are not supported)")
        })
    }
}
