//! The AWS backend: DynamoDB store, SQS queues, Secrets Manager.
//!
//! Clients are built once from an [`SdkConfig`] with no network call; [`load_sdk_config`] reads
//! the environment (region, the default credential chain, `AWS_ENDPOINT_URL`…) and gives every
//! client of the process one HTTP client ([`http::SdkHttpClient`]). The adapters' calls are
//! signed requests on it ([`rest`], [`dynamodb`]); SDK clients serve only provisioning.

pub mod container_credentials;
pub mod dynamodb;
mod env_config;
mod error;
pub mod handlers;
pub mod http;
mod item;
mod payloads;
pub mod provision;
mod queue;
pub mod rest;
mod secrets;
mod store;

use std::sync::Arc;

use rest::RestClient;

pub use crate::tls::SdkTrust;
pub use aws_config::SdkConfig;
pub use env_config::{EnvConfigError, sdk_config_from_env, sdk_config_from_vars};
pub use error::{AwsError, AwsErrorKind};
pub use handlers::{AwsHandlerFactory, HANDLER_ACTIONS};
pub use http::HttpClientError;
pub use item::{
    INDEX_BY_SOURCE, INDEX_PENDING, PENDING_SHARDS, attr, event_to_item, item_size, item_to_event,
    new_event_item, pending_shard, value_size,
};
pub use payloads::{ITEM_BUDGET, PayloadBucket, payload_bucket_from_env};
pub use provision::{ProvisionError, ProvisionOptions, Provisioned, provision};
pub use queue::SqsQueue;
pub use secrets::SecretsManagerStore;
pub use store::DynamoStore;

/// Loads the SDK configuration from the environment: region, credentials and
/// `AWS_ENDPOINT_URL[_<SERVICE>]`, with the SDK's default timeouts and the shared HTTP client
/// ([`http`]; roots per [`SdkTrust::from_env`]), which the credential providers use too. No
/// network call. (aws-config still looks for `~/.aws/config` and `~/.aws/credentials`, for its
/// other settings; on Lambda they do not exist.)
///
/// Same answers as the SDK's default chains, whose first link is the environment: with
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` set, the environment provider is used
/// directly, and with `AWS_REGION` (or `AWS_DEFAULT_REGION`) set, that region; the chains
/// (profile, web identity, ECS, IMDS), which build an STS and an IMDS client, only otherwise.
pub async fn load_sdk_config() -> Result<SdkConfig, HttpClientError> {
    let timeouts = http::default_timeouts();
    // The SDK crates are built without a default HTTP client: this one is the only one.
    let client = http::process_client(&timeouts, SdkTrust::from_env())?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .http_client(client.shared());
    if env_set("AWS_ACCESS_KEY_ID") && env_set("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    if let Some(region) = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    {
        loader = loader.region(aws_config::Region::new(region.trim().to_owned()));
    }
    Ok(loader.load().await)
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Why [`AwsBackend::new`] cannot build the adapters.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("HOOKGATE_PAYLOAD_BUCKET: {0}")]
    PayloadBucket(crate::ports::StoreError),
    #[error("SQS cannot be called: {0}")]
    Queue(String),
    #[error("DynamoDB cannot be called: {0}")]
    Table(String),
}

/// Every AWS adapter, built from one configuration.
#[derive(Debug, Clone)]
pub struct AwsBackend {
    pub store: Arc<DynamoStore>,
    pub queue: Arc<SqsQueue>,
    pub dlq: Arc<SqsQueue>,
    pub secrets: Arc<SecretsManagerStore>,
}

impl AwsBackend {
    /// Builds the clients once; no network call.
    /// The payload bucket comes from `HOOKGATE_PAYLOAD_BUCKET` when set; an error when it, SQS or
    /// DynamoDB cannot be used (no region, an invalid bucket name or endpoint URL). The CLI's
    /// `--backend aws` and the Lambda functions' boot both build their adapters here.
    pub fn new(
        sdk: &SdkConfig,
        table: String,
        queue_url: String,
        dlq_url: String,
    ) -> Result<Self, BackendError> {
        let sqs = RestClient::from_sdk(sdk, rest::Service::Sqs).map_err(BackendError::Queue)?;
        let mut b = Self::from_clients(
            dynamodb::DynamoDb::from_sdk(sdk).map_err(BackendError::Table)?,
            sqs,
            SecretsManagerStore::from_sdk(sdk),
            table,
            queue_url,
            dlq_url,
        );
        if let Some(p) = payload_bucket_from_env(sdk).map_err(BackendError::PayloadBucket)? {
            b.store = Arc::new(
                DynamoStore::new(b.store.client().clone(), b.store.table()).with_payloads(Some(p)),
            );
        }
        Ok(b)
    }

    /// From clients configured by the caller (e.g. observed, or with custom timeouts).
    pub fn from_clients(
        dynamodb: dynamodb::DynamoDb,
        sqs: RestClient,
        secrets: SecretsManagerStore,
        table: String,
        queue_url: String,
        dlq_url: String,
    ) -> Self {
        Self {
            store: Arc::new(DynamoStore::new(dynamodb, table)),
            queue: Arc::new(SqsQueue::new(sqs.clone(), queue_url)),
            dlq: Arc::new(SqsQueue::new(sqs, dlq_url)),
            secrets: Arc::new(secrets),
        }
    }
}

/// One adapter method and the IAM actions it calls.
pub type ActionTable = &'static [(&'static str, &'static [&'static str])];

/// [`DynamoStore`]: the `EventStore` methods. `pending` and `list` query the table's indexes
/// (`table/*/index/*` resources).
pub const STORE_ACTIONS: ActionTable = &[
    ("put_new", &["dynamodb:PutItem"]),
    ("get", &["dynamodb:GetItem"]),
    ("get_many", &["dynamodb:BatchGetItem"]),
    ("claim", &["dynamodb:UpdateItem"]),
    ("record", &["dynamodb:UpdateItem"]),
    ("mark_replay", &["dynamodb:UpdateItem"]),
    ("mark_abandoned", &["dynamodb:UpdateItem"]),
    // With a payload bucket: bodies too large for an item are written and read as S3 objects.
    ("put_new (payload bucket)", &["s3:PutObject"]),
    ("read (payload bucket)", &["s3:GetObject"]),
    ("pending", &["dynamodb:Query"]),
    ("list", &["dynamodb:Query", "dynamodb:Scan"]),
];

/// [`SqsQueue`]: the `Queue` methods. `native_redrive` runs on the DLQ; SQS's message move task
/// also needs `sqs:ReceiveMessage`, `sqs:DeleteMessage` on the DLQ and `sqs:SendMessage` on the
/// destination queue, so they are listed with it.
pub const QUEUE_ACTIONS: ActionTable = &[
    ("send", &["sqs:SendMessage"]),
    ("receive", &["sqs:ReceiveMessage"]),
    ("delete", &["sqs:DeleteMessage"]),
    ("change_visibility", &["sqs:ChangeMessageVisibility"]),
    ("stats", &["sqs:GetQueueAttributes"]),
    ("peek", &["sqs:ReceiveMessage"]),
    (
        "native_redrive",
        &[
            "sqs:GetQueueAttributes",
            "sqs:StartMessageMoveTask",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:SendMessage",
        ],
    ),
];

/// [`SecretsManagerStore`].
pub const SECRETS_ACTIONS: ActionTable = &[("fetch", &["secretsmanager:GetSecretValue"])];

/// [`provision()`] (`hookgate aws init`): deploy-time only, never granted to the functions.
pub const PROVISION_ACTIONS: ActionTable = &[(
    "provision",
    &[
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive",
        "sqs:CreateQueue",
        "sqs:GetQueueUrl",
        "sqs:SetQueueAttributes",
        "sqs:GetQueueAttributes",
    ],
)];

/// The actions of `method` in `table`, if listed.
pub fn actions_of(table: ActionTable, method: &str) -> Option<&'static [&'static str]> {
    table.iter().find(|(m, _)| *m == method).map(|(_, a)| *a)
}
