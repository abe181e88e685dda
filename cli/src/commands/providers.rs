//! `hookgate providers`: every provider kind, the headers it expects and what it signs.

use std::process::ExitCode;

use hookgate_shared::verify;
use serde::Serialize;

use crate::args::OutputFormat;
use crate::output;

#[derive(Serialize)]
struct Row {
    provider: &'static str,
    headers: Vec<String>,
    signs: String,
}

pub fn run(format: OutputFormat) -> anyhow::Result<ExitCode> {
    let rows: Vec<Row> = verify::all()
        .iter()
        .map(|v| Row {
            provider: v.provider(),
            headers: v.expected_headers(),
            signs: v.describe(),
        })
        .collect();
    match format {
        OutputFormat::Json => output::json(&rows)?,
        OutputFormat::Table => output::table(
            &["PROVIDER", "HEADERS", "SIGNS"],
            rows.into_iter()
                .map(|r| vec![r.provider.to_owned(), r.headers.join(", "), r.signs])
                .collect(),
        ),
    }
    Ok(ExitCode::SUCCESS)
}
