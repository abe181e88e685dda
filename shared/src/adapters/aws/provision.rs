//! Creates (or finds) the AWS resources hookgate needs: used by `hookgate aws init` and by tests.
//!
//! - table `{prefix}-events`: on-demand, key `event_id`, GSIs `by_source` and `pending`, TTL on
//!   `expires_at`;
//! - dead-letter queue `{prefix}-dlq`: 14 days retention;
//! - queue `{prefix}-queue`: visibility timeout, `RedrivePolicy` to the DLQ after
//!   `max_receive_count` receives.
//!
//! Idempotent: existing resources are reused (queue attributes are brought to the requested
//! values; an existing table must already have both indexes).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::error::AwsError;
use super::item::{INDEX_BY_SOURCE, INDEX_PENDING, attr};

/// 14 days, SQS's longest retention: the dead-letter queue keeps failures as long as it can.
pub const DLQ_RETENTION_SECS: u32 = 1_209_600;

#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    /// Names every resource: `{prefix}-events`, `{prefix}-queue`, `{prefix}-dlq`.
    pub prefix: String,
    /// Receives before SQS moves a message to the DLQ.
    pub max_receive_count: u32,
    /// The main queue's default visibility timeout.
    pub visibility_timeout: Duration,
    /// How long to wait for a new table (and its indexes) to become active.
    pub wait_active: Duration,
}

impl ProvisionOptions {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            max_receive_count: 5,
            visibility_timeout: Duration::from_secs(60),
            wait_active: Duration::from_secs(300),
        }
    }
}

/// What exists after provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub table: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    /// False when the table already existed.
    pub table_created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(
        "prefix `{0}` must be 1-60 characters of letters, digits, '-' or '_' (it names the table and the queues)"
    )]
    InvalidPrefix(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("existing resource does not fit hookgate: {0}")]
    Incompatible(String),
    #[error("{0}")]
    Timeout(String),
    #[error("cannot build request: {0}")]
    Build(String),
}

fn build_err(e: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Build(e.to_string())
}

fn valid_prefix(p: &str) -> bool {
    (1..=60).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Creates or reuses the table and both queues.
pub async fn provision(
    sdk: &SdkConfig,
    opts: &ProvisionOptions,
) -> Result<Provisioned, ProvisionError> {
    if !valid_prefix(&opts.prefix) {
        return Err(ProvisionError::InvalidPrefix(opts.prefix.clone()));
    }
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let table = format!("{}-events", opts.prefix);
    let table_created = ensure_table(&ddb, &table, opts.wait_active).await?;
    ensure_ttl(&ddb, &table).await?;

    let dlq_name = format!("{}-dlq", opts.prefix);
    let dlq_attrs = vec![(
        QueueAttributeName::MessageRetentionPeriod,
        DLQ_RETENTION_SECS.to_string(),
    )];
    let dlq_url = ensure_queue(&sqs, &dlq_name, &dlq_attrs).await?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;

    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": opts.max_receive_count.max(1).to_string(),
    })
    .to_string();
    let queue_name = format!("{}-queue", opts.prefix);
    let queue_attrs = vec![
        (
            QueueAttributeName::VisibilityTimeout,
            opts.visibility_timeout.as_secs().to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive),
    ];
    let queue_url = ensure_queue(&sqs, &queue_name, &queue_attrs).await?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;
    Ok(Provisioned {
        table,
        queue_url,
        queue_arn,
        dlq_url,
        dlq_arn,
        table_created,
    })
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, ProvisionError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_err)
}

fn def(name: &str, t: ScalarAttributeType) -> Result<AttributeDefinition, ProvisionError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .map_err(build_err)
}

/// Creates the table unless it exists; waits until it and its indexes are active. True if created.
async fn ensure_table(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    wait: Duration,
) -> Result<bool, ProvisionError> {
    let by_source = GlobalSecondaryIndex::builder()
        .index_name(INDEX_BY_SOURCE)
        .key_schema(key(attr::SOURCE, KeyType::Hash)?)
        .key_schema(key(attr::RECEIVED_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_err)?;
    let pending = GlobalSecondaryIndex::builder()
        .index_name(INDEX_PENDING)
        .key_schema(key(attr::PENDING_SHARD, KeyType::Hash)?)
        .key_schema(key(attr::PENDING_SINCE, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(attr::GENERATION)
                .non_key_attributes(attr::STATUS)
                .build(),
        )
        .build()
        .map_err(build_err)?;
    let res = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::EVENT_ID, KeyType::Hash)?)
        .attribute_definitions(def(attr::EVENT_ID, ScalarAttributeType::S)?)
        .attribute_definitions(def(attr::SOURCE, ScalarAttributeType::S)?)
        .attribute_definitions(def(attr::RECEIVED_AT, ScalarAttributeType::N)?)
        .attribute_definitions(def(attr::PENDING_SHARD, ScalarAttributeType::S)?)
        .attribute_definitions(def(attr::PENDING_SINCE, ScalarAttributeType::N)?)
        .global_secondary_indexes(by_source)
        .global_secondary_indexes(pending)
        .send()
        .await;
    let created = match res {
        Ok(_) => true,
        Err(e) => {
            let e = AwsError::from_sdk("CreateTable", e);
            if e.code_is("ResourceInUseException") {
                false
            } else {
                return Err(e.into());
            }
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let out = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTable", e))?;
        let desc = out.table.ok_or_else(|| {
            ProvisionError::Incompatible(format!("table {table} has no description"))
        })?;
        let indexes = desc.global_secondary_indexes.clone().unwrap_or_default();
        for name in [INDEX_BY_SOURCE, INDEX_PENDING] {
            if !indexes
                .iter()
                .any(|i| i.index_name.as_deref() == Some(name))
            {
                return Err(ProvisionError::Incompatible(format!(
                    "table {table} exists without the global secondary index `{name}`"
                )));
            }
        }
        let table_active = desc.table_status == Some(TableStatus::Active);
        let indexes_active = indexes.iter().all(|i| {
            i.index_status
                .as_ref()
                .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
        });
        if table_active && indexes_active {
            return Ok(created);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ProvisionError::Timeout(format!(
                "table {table} not active after {}s",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Turns TTL on `expires_at` on unless it already is.
async fn ensure_ttl(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), ProvisionError> {
    let current = ddb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTimeToLive", e))?
        .time_to_live_description;
    if let Some(d) = current {
        let on = matches!(
            d.time_to_live_status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        if on {
            return match d.attribute_name.as_deref() {
                Some(attr::EXPIRES_AT) => Ok(()),
                other => Err(ProvisionError::Incompatible(format!(
                    "table {table} has TTL on `{}`, hookgate needs `{}`",
                    other.unwrap_or("?"),
                    attr::EXPIRES_AT
                ))),
            };
        }
    }
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attr::EXPIRES_AT)
                .build()
                .map_err(build_err)?,
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateTimeToLive", e))?;
    Ok(())
}

/// Creates the queue, or finds it and sets the wanted attributes. Returns its URL.
async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attrs: &[(QueueAttributeName, String)],
) -> Result<String, ProvisionError> {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), v);
    }
    match req.send().await {
        Ok(out) => out
            .queue_url
            .ok_or_else(|| ProvisionError::Incompatible(format!("CreateQueue {name}: no URL"))),
        Err(e) => {
            let e = AwsError::from_sdk("CreateQueue", e);
            let exists = e.code_is("QueueAlreadyExists")
                || e.code_is("QueueNameExists")
                || e.code_is("AWS.SimpleQueueService.QueueNameExists");
            if !exists {
                return Err(e.into());
            }
            // Same name, other attributes: reuse it and bring the attributes to what we want.
            let url = sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetQueueUrl", e))?
                .queue_url
                .ok_or_else(|| {
                    ProvisionError::Incompatible(format!("GetQueueUrl {name}: no URL"))
                })?;
            let mut set = sqs.set_queue_attributes().queue_url(&url);
            for (k, v) in attrs {
                set = set.attributes(k.clone(), v);
            }
            set.send()
                .await
                .map_err(|e| AwsError::from_sdk("SetQueueAttributes", e))?;
            Ok(url)
        }
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, ProvisionError> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| ProvisionError::Incompatible(format!("queue {url} has no QueueArn")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(valid_prefix("hookgate"));
        assert!(valid_prefix("hg-prod_2"));
        for bad in ["", "a b", "a/b", "x.y", &"a".repeat(61)] {
            assert!(!valid_prefix(bad), "{bad:?}");
        }
    }
}
