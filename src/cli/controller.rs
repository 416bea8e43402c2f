//! `distro controller`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::Global;
use super::cluster::block_on;
use crate::controller::{self, Settings};
use crate::model::parse_duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reconcile the Platforms of this namespace only (all namespaces by default).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Platforms reconciled at the same time, and releases applied at the
    /// same time within one.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Listen for push notifications here (`0.0.0.0:9292`); off by default.
    #[arg(long, value_name = "ADDR")]
    pub webhook_addr: Option<SocketAddr>,
    /// Where Git caches are kept.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long SIGTERM waits for reconciles in flight before exiting.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Serve Prometheus metrics on /metrics here (`:8080` is every
    /// interface; `off` to disable).
    #[arg(long, default_value = ":8080", value_name = "ADDR", value_parser = listen_addr)]
    pub metrics_addr: Listen,
    /// Serve /healthz and /readyz here (`off` to disable).
    #[arg(long, default_value = ":9440", value_name = "ADDR", value_parser = listen_addr)]
    pub health_addr: Listen,
    /// Elect one leader among the replicas through the Lease
    /// `distro-controller-leader-election` (`--leader-elect=false` when
    /// only one runs).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// The Lease's namespace; by default --namespace, else distro-system.
    #[arg(long, value_name = "NS")]
    pub leader_election_namespace: Option<String>,
}

/// An address to listen on, or none.
#[derive(Debug, Clone, Copy)]
pub struct Listen(Option<SocketAddr>);

/// `HOST:PORT`, `:PORT` (every interface) or `off`.
fn listen_addr(s: &str) -> Result<Listen, String> {
    if s == "off" {
        return Ok(Listen(None));
    }
    let full = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.to_string(),
    };
    full.parse()
        .map(|a| Listen(Some(a)))
        .map_err(|e| format!("{s:?} is not HOST:PORT, :PORT or off: {e}"))
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let settings = Settings {
        namespace: args.namespace.clone(),
        concurrency: args.concurrency,
        webhook_addr: args.webhook_addr,
        state_dir: args
            .state_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("distro-controller")),
        shutdown_timeout: args.shutdown_timeout,
        metrics_addr: args.metrics_addr.0,
        health_addr: args.health_addr.0,
        leader_namespace: args.leader_elect.then(|| {
            args.leader_election_namespace
                .clone()
                .or_else(|| args.namespace.clone())
                .unwrap_or_else(|| "distro-system".into())
        }),
        target: global.target(),
    };
    controller::arena::limit();
    block_on(controller::run(settings))??;
    Ok(ExitCode::SUCCESS)
}
