use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::args::{BackendKind, Cli, ServeArgs};
use crate::backend;

pub async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = backend::load_config(cli.config.as_deref())?;
    let sources: Vec<String> = loaded
        .config
        .sources
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let aws = args.backend == BackendKind::Aws;
    let (app, description) = backend::app(cli, loaded.config, aws).await?;
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("hookgate listening on http://{addr}");
    println!("  backend:  {description}");
    println!("  config:   {}", loaded.origin);
    for s in &sources {
        println!("  POST http://{addr}/webhooks/{s}");
    }
    if loaded.is_demo {
        println!(
            "  demo secrets: github={} stripe={} standard-webhooks={}",
            hookgate_shared::demo::GITHUB_SECRET,
            hookgate_shared::demo::STRIPE_SECRET,
            hookgate_shared::demo::STANDARD_WEBHOOKS_SECRET
        );
    }
    let limits = crate::serve::HttpLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
    };
    crate::serve::run(app, listener, limits).await?;
    Ok(ExitCode::SUCCESS)
}
