//! `distro apply`.

use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Global;
use super::cluster::{Format, Row, table, with_cluster};
use crate::apply::{self, Event, Options, ReleaseReport, SnapshotError};
use crate::model::parse_duration;
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub watch: super::watching::Watch,
    /// Wait for every object to be ready before a release counts as Ready
    /// (`--wait=false` to only apply).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub wait: bool,
    /// How long one release may take to become ready (30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub timeout: Duration,
    /// Take ownership of fields another field manager owns.
    #[arg(long)]
    pub force_conflicts: bool,
    /// How many releases are applied at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Remove releases that left the platform (`--prune=false` to keep them).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub prune: bool,
    /// Output format of the final report.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(flatten)]
    pub from: super::from::From,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    // Validate everything before the first write: an invalid snapshot is
    // refused before any client is built.
    let (snapshot, relocation) = match args.from.load()? {
        Some(installed) => (installed.snapshot, Some(installed.relocation)),
        None => (global.snapshot()?, None),
    };
    let options = Options {
        force_conflicts: args.force_conflicts,
        wait: args.wait,
        timeout: args.timeout,
        concurrency: args.concurrency,
        prune: args.prune,
        source_revision: None,
        locked: global.locked,
        render: global.render_options(),
        // The command line compares every object with the cluster, and
        // reports every conflict.
        skip: None,
        take_back: false,
        relocation,
    };
    let applied = with_cluster(global, |client| async move {
        let (tx, rx) = mpsc::unbounded_channel();
        let progress = tokio::spawn(show_progress(rx));
        let applied = apply::apply_snapshot(client, snapshot, None, options, Some(tx)).await;
        let _ = progress.await;
        applied.map_err(|e| match e {
            SnapshotError::Invalid(invalid) => anyhow::Error::from(invalid),
            other => anyhow::Error::from(other),
        })
    })?;
    pipeline::write_lock(&applied.rendered.loaded)?;
    let report = applied.report;

    match args.output {
        Format::Table => {
            let rows: Vec<Row> = report
                .releases
                .iter()
                .chain(&report.removed)
                .map(|r| Row {
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                    revision: r.revision.clone(),
                    ready: if r.ready() { "True" } else { "False" }.into(),
                    reason: r.summary.reason.to_string(),
                    message: r.summary.message.clone(),
                })
                .collect();
            super::print(&table(&rows))?
        }
        Format::Json => super::print(&super::json_text(&report)?)?,
        Format::Yaml => super::print(&super::yaml_text(&report)?)?,
    }
    Ok(if report.all_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILED)
    })
}

/// Prints one line per release event on stderr: readable live in a
/// terminal and in CI logs alike.
async fn show_progress(mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut done = 0usize;
    while let Some(event) = rx.recv().await {
        match event {
            Event::Started { name, objects } => {
                eprintln!("  ...  {name}: applying {objects} objects")
            }
            Event::Finished { report, total } => {
                done += 1;
                eprintln!("[{done}/{total}] {}", describe(&report));
            }
            Event::Removed(r) => eprintln!("  -    {}: removed ({})", r.name, r.changes.summary()),
        }
    }
}

fn describe(r: &ReleaseReport) -> String {
    let took = r
        .started
        .and_then(|s| r.finished.duration_since(s).ok())
        .map(|d| format!(" in {:.1}s", d.as_secs_f64()))
        .unwrap_or_default();
    if r.summary.ready() {
        format!("ok   {}: Ready{took} ({})", r.name, r.changes.summary())
    } else {
        format!(
            "FAIL {}: {}: {}",
            r.name, r.summary.reason, r.summary.message
        )
    }
}
