use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use hookgate_shared::admin::auth;

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
    let token = match auth::token_from(std::env::var(auth::TOKEN_ENV).ok()) {
        Ok(Some(t)) => {
            println!(
                "  admin:    http://{addr}/admin (token from {})",
                auth::TOKEN_ENV
            );
            t
        }
        Ok(None) => {
            let t = auth::generate_token();
            println!("  admin:    http://{addr}/admin/login?token={t}");
            println!(
                "  admin token (generated; set {} to choose one): {t}",
                auth::TOKEN_ENV
            );
            t
        }
        Err(e) => anyhow::bail!(e),
    };
    println!("  metrics:  http://{addr}/metrics");
    let processing = if args.ingest_only {
        println!(
            "  processing: off (--ingest-only): deliveries are stored and queued, not processed"
        );
        crate::serve::Processing::Off
    } else {
        println!(
            "  processing: {} loops of up to {} messages",
            app.config.queue.pollers, app.config.queue.batch_size
        );
        crate::serve::Processing::On
    };
    let limits = crate::serve::HttpLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
    };
    crate::serve::run(app, token, listener, limits, processing).await?;
    Ok(ExitCode::SUCCESS)
}
