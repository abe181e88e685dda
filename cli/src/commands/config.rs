use std::process::ExitCode;

use crate::args::{Cli, ConfigCmd};
use crate::{backend, output};

pub fn run(cli: &Cli, cmd: &ConfigCmd) -> anyhow::Result<ExitCode> {
    let loaded = match backend::load_config(cli.config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    match cmd {
        ConfigCmd::Check => {
            println!(
                "{}: ok ({} sources, {} routes, {} handlers)",
                loaded.origin,
                loaded.config.sources.len(),
                loaded.config.routes.len(),
                loaded.config.handlers.len()
            );
        }
        ConfigCmd::Show => output::json(&hookgate_shared::admin::redacted_config(&loaded.config))?,
    }
    Ok(ExitCode::SUCCESS)
}
