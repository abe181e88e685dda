//! Secrets Manager as the remote [`SecretStore`] behind `secretsmanager:` references.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

use super::error::AwsError;
use crate::secrets::SecretStore;

/// Reads secrets with `GetSecretValue` (the `SecretString`).
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    /// No network call.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn fetch(&self, id: &str) -> Result<String, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetSecretValue", e).to_string())?;
        out.secret_string.ok_or_else(|| {
            format!("secret `{id}` has no string value (binary secrets are not supported)")
        })
    }
}
