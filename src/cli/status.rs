//! `distro status`.

use std::process::ExitCode;

use super::Global;
use super::cluster::{Format, Row, block_on, client, table};
use crate::status::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

pub fn run(_global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let records = block_on(async {
        // Every platform's releases, as `kubectl get releases -A` shows.
        Store::new(client().await?, Default::default())
            .list_all()
            .await
            .map_err(anyhow::Error::from)
    })??;
    let rows: Vec<Row> = records.iter().map(Row::from_record).collect();
    match args.output {
        Format::Table => super::print(&table(&rows))?,
        Format::Json => super::print(&(serde_json::to_string_pretty(&rows)? + "\n"))?,
    }
    Ok(ExitCode::SUCCESS)
}
