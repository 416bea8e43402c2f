//! `distro reconcile|suspend|resume platform NAME`: drive a Platform as
//! `flux reconcile|suspend|resume` does.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use super::Global;
use super::cluster::with_cluster;
use crate::controller::platform::{self, Platform, REQUESTED_AT_ANNOTATION};
use crate::model::parse_duration;
use crate::status::ConditionStatus;

/// The kinds these commands act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Platform,
}

#[derive(Debug, clap::Args)]
pub struct Target {
    /// What to act on.
    #[arg(value_enum)]
    pub kind: Kind,
    /// The Platform's name.
    pub name: String,
    /// Its namespace.
    #[arg(short, long, default_value = "distro-system")]
    pub namespace: String,
}

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub target: Target,
    /// How long to wait for the outcome.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Asks for an immediate reconcile, waits until the controller handled it,
/// and prints the outcome. Exit 0 when Ready, 1 when not.
pub fn reconcile(global: &Global, args: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let t = &args.target;
    with_cluster(global, |client| async move {
        let requested = crate::status::now_precise();
        let patch = json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: requested}}});
        platform::merge(&client, &t.namespace, &t.name, &patch).await?;
        eprintln!(
            "reconcile requested for Platform {}/{}",
            t.namespace, t.name
        );
        let deadline = Instant::now() + args.timeout;
        let api = platform::api(&client, Some(&t.namespace));
        loop {
            let obj = api
                .get(&t.name)
                .await
                .with_context(|| format!("reading Platform {}/{}", t.namespace, t.name))?;
            let p = Platform::from_object(&obj)?;
            let handled = p.status.last_handled_reconcile_at.as_deref() == Some(requested.as_str());
            let ready = p.status.ready();
            let settled = ready.is_some_and(|c| c.status != ConditionStatus::Unknown);
            if handled && settled {
                return Ok(outcome(&p));
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "timed out after {:?} waiting for Platform {}/{} (last: {})",
                    args.timeout,
                    t.namespace,
                    t.name,
                    ready.map(|c| c.message.as_str()).unwrap_or("no status yet")
                );
                return Ok(ExitCode::from(super::EXIT_FAILED));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

fn outcome(p: &Platform) -> ExitCode {
    let ready = p.status.ready();
    let revision = p.status.last_applied_revision.as_deref().unwrap_or("-");
    match ready {
        Some(c) if c.status == ConditionStatus::True => {
            println!(
                "Platform {}/{} Ready at {revision}: {}",
                p.namespace, p.name, c.message
            );
            ExitCode::SUCCESS
        }
        Some(c) => {
            println!(
                "Platform {}/{} not Ready ({}): {}",
                p.namespace, p.name, c.reason, c.message
            );
            ExitCode::from(super::EXIT_FAILED)
        }
        None => ExitCode::from(super::EXIT_FAILED),
    }
}

/// Sets `spec.suspend`.
pub fn suspend(global: &Global, target: &Target, suspend: bool) -> anyhow::Result<ExitCode> {
    with_cluster(global, |client| async move {
        platform::merge(
            &client,
            &target.namespace,
            &target.name,
            &json!({"spec": {"suspend": suspend}}),
        )
        .await?;
        println!(
            "Platform {}/{} {}",
            target.namespace,
            target.name,
            if suspend { "suspended" } else { "resumed" }
        );
        Ok(ExitCode::SUCCESS)
    })
}
