//! `distro apply`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::Global;
use super::cluster::{Format, Row, block_on, client, table};
use crate::apply::{self, Context, Event, Options, ReleaseReport};
use crate::model::parse_duration;
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct Args {
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
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    // Validate everything before the first write.
    let rendered = pipeline::render(&global.options())?;
    let options = Options {
        force_conflicts: args.force_conflicts,
        wait: args.wait,
        timeout: args.timeout,
        concurrency: args.concurrency,
        prune: args.prune,
    };
    let total = rendered.releases.len();
    let report = block_on(async {
        let ctx = Context::new(
            client().await?,
            &rendered.loaded.distribution.platform.name,
            options,
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let progress = tokio::spawn(show_progress(rx, total));
        let report = apply::run(&ctx, &rendered.releases, &rendered.loaded.graph, Some(tx)).await;
        let _ = progress.await;
        report.map_err(anyhow::Error::from)
    })??;

    let rows: Vec<Row> = report
        .releases
        .iter()
        .map(|r| Row {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            revision: r.revision.clone(),
            ready: if r.summary.ready() { "True" } else { "False" }.into(),
            reason: r.summary.reason.to_string(),
            message: r.summary.message.clone(),
        })
        .collect();
    match args.output {
        Format::Table => super::print(&table(&rows))?,
        Format::Json => {
            let json: Vec<serde_json::Value> = report
                .releases
                .iter()
                .zip(&rows)
                .map(|(r, row)| {
                    serde_json::json!({
                        "namespace": row.namespace, "name": row.name, "revision": row.revision,
                        "ready": row.ready, "reason": row.reason, "message": row.message,
                        "changes": r.changes.changes,
                        "startedAt": r.started.map(unix_millis),
                        "finishedAt": unix_millis(r.finished),
                    })
                })
                .collect();
            super::print(&(serde_json::to_string_pretty(&json)? + "\n"))?;
        }
    }
    Ok(if report.all_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILED)
    })
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Prints one line per release event on stderr: readable live in a
/// terminal and in CI logs alike.
async fn show_progress(mut rx: mpsc::UnboundedReceiver<Event>, total: usize) {
    let mut done = 0usize;
    while let Some(event) = rx.recv().await {
        match event {
            Event::Started { name, objects } => {
                eprintln!("  ...  {name}: applying {objects} objects")
            }
            Event::Finished(r) => {
                done += 1;
                eprintln!("[{done}/{total}] {}", describe(&r));
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
