//! `--stack NAME`: the table and queue names from a CloudFormation stack's outputs.

use anyhow::{Context, bail};
use hookgate_shared::adapters::aws::SdkConfig;

use crate::args::AwsArgs;

/// Output keys the SAM template publishes.
pub const TABLE: &str = "TableName";
pub const QUEUE: &str = "QueueUrl";
pub const DLQ: &str = "DlqUrl";

/// (table, queue URL, DLQ URL); explicit flags win over the stack's outputs.
pub async fn outputs(
    sdk: &SdkConfig,
    stack: &str,
    a: &AwsArgs,
) -> anyhow::Result<(String, String, String)> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let out = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .with_context(|| format!("cannot describe stack `{stack}`"))?;
    let Some(s) = out.stacks().first() else {
        bail!("no stack named `{stack}`");
    };
    let get = |key: &str| -> anyhow::Result<String> {
        s.outputs()
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_owned)
            .with_context(|| format!("stack `{stack}` has no output `{key}`"))
    };
    Ok((
        a.table.clone().map_or_else(|| get(TABLE), Ok)?,
        a.queue_url.clone().map_or_else(|| get(QUEUE), Ok)?,
        a.dlq_url.clone().map_or_else(|| get(DLQ), Ok)?,
    ))
}
