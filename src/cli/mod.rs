//! Command-line definitions and dispatch. Each command lives in its own file
//! and only calls library code; this file maps outcomes to exit codes.
//!
//! Exit codes: 0 success, 1 the operation failed or found changes (per
//! command), 2 invalid input (nothing was written).

mod apply;
mod cluster;
mod controller;
mod diff;
mod graph;
mod health;
mod platform;
mod render;
mod status;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::pipeline::{self, Invalid};
use crate::source::Snapshot;

/// Exit code for invalid input.
pub const EXIT_INVALID: u8 = 2;
/// Exit code for a failed operation.
pub const EXIT_FAILED: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "distro",
    version,
    // As with kubectl, a flag given twice takes its last value.
    args_override_self = true,
    about = "Build a Kubernetes platform from versioned packages and keep a cluster reconciled to it",
    after_help = "Examples:\n  distro render --out rendered/     one file per release plus index.json\n  distro graph -o svg > graph.svg   picture of the release DAG\n  distro validate --locked          CI check: valid input, lock up to date\n\nExit codes: 0 ok, 1 failed, 2 invalid input."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// The platform file; packages/ and bundles/ are read next to it.
    #[arg(
        short = 'p',
        long,
        global = true,
        default_value = "platform.yaml",
        value_name = "FILE"
    )]
    pub platform: PathBuf,
    /// Refuse to run when distro.lock is missing or out of date, instead of
    /// rewriting it.
    #[arg(long, global = true)]
    pub locked: bool,
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The kubeconfig file of the cluster commands (instead of KUBECONFIG,
    /// ~/.kube/config or the in-cluster service account).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current one.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
}

impl Global {
    fn options(&self) -> pipeline::Options {
        pipeline::Options {
            locked: self.locked,
        }
    }

    /// The cluster the cluster commands talk to.
    fn target(&self) -> crate::client::Target {
        crate::client::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    /// The distribution the platform file names, read into memory.
    fn snapshot(&self) -> Result<Snapshot, Invalid> {
        Ok(Snapshot::from_dir(&self.platform)?)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the platform: every release's manifests, in apply order.
    #[command(
        after_help = "Examples:\n  distro render                    all manifests as one YAML stream on stdout\n  distro render --out rendered/    rendered/<release>.yaml and rendered/index.json\n  distro render -p staging/platform.yaml --locked\n\nExit codes: 0 ok, 2 invalid input (nothing written)."
    )]
    Render(render::Args),
    /// Show the release dependency graph.
    #[command(
        after_help = "Examples:\n  distro graph                     levels of releases that install in parallel\n  distro graph -o json | jq .order\n  distro graph -o dot | dot -Tpng > graph.png\n  distro graph -o svg > graph.svg  no Graphviz needed\n  distro graph -o mermaid          paste into Markdown\n\nExit codes: 0 ok, 2 invalid input."
    )]
    Graph(graph::Args),
    /// Check everything render checks, print nothing on success.
    #[command(
        after_help = "Examples:\n  distro validate\n  distro validate --locked -p platform.yaml\n\nExit codes: 0 valid, 2 invalid input."
    )]
    Validate(validate::Args),
    /// Render, validate, then server-side apply every release in dependency
    /// order, wait for readiness, prune, and report.
    #[command(
        after_help = "Examples:\n  distro apply                          install or upgrade, wait, print the release table\n  distro apply --timeout 10m --concurrency 8\n  distro apply --force-conflicts        take fields owned by another manager\n  distro apply --wait=false -o json\n\nNothing is written unless the whole distribution is valid.\nExit codes: 0 all releases Ready, 1 some failed, 2 invalid input."
    )]
    Apply(apply::Args),
    /// Show what apply would change: a server-side dry run of every object.
    #[command(
        after_help = "Examples:\n  distro diff                 unified diff per changed object, objects to prune\n  distro diff && echo in sync\n\nSecret values are masked.\nExit codes: 0 no changes, 1 changes, 2 error."
    )]
    Diff(diff::Args),
    /// Per-release readiness read from the cluster.
    #[command(
        after_help = "Examples:\n  distro status               NAMESPACE NAME REVISION READY STATUS\n  distro status -o json | jq '.releases[] | select(.ready != \"True\")'\n  kubectl get releases -A     the same, from kubectl\n\nExit codes: 0 ok, 1 the cluster cannot be read."
    )]
    Status(status::Args),
    /// kstatus verdict for every object in a file; no cluster needed.
    #[command(after_help = health::AFTER_HELP)]
    Health(health::Args),
    /// Keep the cluster reconciled to every Platform object (long-running).
    #[command(
        after_help = "Examples:\n  distro controller                               all namespaces\n  distro controller -n distro-system --webhook-addr 0.0.0.0:9292\n  distro controller --state-dir /var/cache/distro --concurrency 8\n\nStops on SIGTERM after finishing the reconciles in flight."
    )]
    Controller(controller::Args),
    /// Ask the controller to reconcile a Platform now, and wait for it.
    #[command(
        after_help = "Examples:\n  distro reconcile platform cozy                  in distro-system\n  distro reconcile platform cozy -n platforms --timeout 10m\n\nExit codes: 0 Ready, 1 not Ready or timed out."
    )]
    Reconcile(platform::ReconcileArgs),
    /// Stop reconciling a Platform until it is resumed.
    #[command(
        after_help = "Examples:\n  distro suspend platform cozy\n\nExit codes: 0 ok, 1 failed."
    )]
    Suspend(platform::Target),
    /// Reconcile a suspended Platform again.
    #[command(
        after_help = "Examples:\n  distro resume platform cozy\n\nExit codes: 0 ok, 1 failed."
    )]
    Resume(platform::Target),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    let result = match &cli.command {
        Command::Render(args) => render::run(&cli.global, args),
        Command::Graph(args) => graph::run(&cli.global, args),
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Apply(args) => apply::run(&cli.global, args),
        Command::Diff(args) => diff::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Health(args) => health::run(&cli.global, args),
        Command::Controller(args) => controller::run(&cli.global, args),
        Command::Reconcile(args) => platform::reconcile(&cli.global, args),
        Command::Suspend(args) => platform::suspend(&cli.global, args, true),
        Command::Resume(args) => platform::suspend(&cli.global, args, false),
    };
    match result {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Prints an error chain once and picks the exit code: invalid input is 2,
/// anything else 1.
fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(Invalid(problems)) = error.downcast_ref::<Invalid>() {
        for p in problems {
            eprintln!("error: {p}");
        }
        eprintln!("{} problem(s) found; nothing was written", problems.len());
        return ExitCode::from(EXIT_INVALID);
    }
    print_error(error);
    ExitCode::from(EXIT_FAILED)
}

/// Prints an error and its causes, once each.
fn print_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Writes to stdout; a closed pipe (`distro render | head`) is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
