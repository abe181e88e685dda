use std::process::ExitCode;

use hookgate_shared::adapters::aws::{ProvisionOptions, load_sdk_config, provision};

use crate::args::{AwsCmd, Cli};
use crate::backend;

pub async fn run(cli: &Cli, cmd: &AwsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AwsCmd::Init { prefix } => {
            let loaded = backend::load_config(cli.config.as_deref())?;
            let mut opts = ProvisionOptions::new(prefix.clone());
            opts.max_receive_count = loaded.config.queue.max_receive_count;
            opts.visibility_timeout = loaded.config.queue.visibility_timeout;
            let sdk = load_sdk_config().await?;
            let p = provision(&sdk, &opts).await?;
            eprintln!(
                "{} table {}, queue {}, dead-letter queue {} (max_receive_count {})",
                if p.table_created { "created" } else { "reused" },
                p.table,
                p.queue_url,
                p.dlq_url,
                opts.max_receive_count
            );
            println!(
                "export HOOKGATE_TABLE={} HOOKGATE_QUEUE_URL={} HOOKGATE_DLQ_URL={}",
                p.table, p.queue_url, p.dlq_url
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
