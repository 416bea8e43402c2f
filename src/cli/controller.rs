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
        target: global.target(),
    };
    block_on(controller::run(settings))??;
    Ok(ExitCode::SUCCESS)
}
