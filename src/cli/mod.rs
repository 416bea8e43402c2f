//! Command-line definitions and dispatch. Each command lives in its own file
//! and only calls library code; this file maps outcomes to exit codes
//! ([`EXIT_CODES`]).

mod apply;
mod bootstrap;
mod cluster;
mod completion;
mod controller;
mod diff;
mod export;
mod from;
mod graph;
mod health;
mod images;
mod import;
mod inputs;
mod list;
mod platform;
mod progress;
mod pull;
mod push;
mod render;
mod status;
mod update;
mod validate;
mod values;
mod watching;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::pipeline::{self, Invalid};
use crate::source::Snapshot;

/// Exit code for changes found (`diff`) or a failure (a release not Ready,
/// an object Failed, anything else that went wrong).
pub const EXIT_FAILED: u8 = 1;
/// Exit code for invalid input: nothing was written.
pub const EXIT_INVALID: u8 = 2;
/// Exit code for a cluster that cannot be reached, or no kubeconfig.
pub const EXIT_UNREACHABLE: u8 = 3;

/// The exit codes of every command, as `--help` and the README show them.
pub const EXIT_CODES: &str = "Exit codes:\n  0  ok\n  1  changes (diff) or failures (a release not Ready, an object Failed)\n  2  invalid input; nothing was written, not even the lock\n  3  the cluster or a registry cannot be reached (connection, TLS, timeout), or no kubeconfig";

#[derive(Debug, Parser)]
#[command(
    name = "distro",
    version,
    // As with kubectl, a flag given twice takes its last value.
    args_override_self = true,
    about = "Build a Kubernetes platform from versioned packages and keep a cluster reconciled to it",
    after_help = const_format_help()
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
    /// The platform file. packages/ and bundles/ are read from the nearest
    /// directory at or above it that has them (up to the repository root);
    /// its lock is next to it: distro.lock for platform.yaml, <stem>.lock
    /// for any other <stem>.yaml.
    #[arg(
        short = 'p',
        long,
        global = true,
        default_value = "platform.yaml",
        value_name = "FILE"
    )]
    pub platform: PathBuf,
    /// Refuse to run when the lock is missing or out of date, instead of
    /// rewriting it.
    #[arg(long, global = true)]
    pub locked: bool,
    /// More log output on stderr: -v the decisions (versions picked, values
    /// files merged, dependencies dropped), -vv each object's action too,
    /// -vvv every library's debug output. RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The kubeconfig file of the cluster commands (instead of KUBECONFIG,
    /// ~/.kube/config or the in-cluster service account).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// How long one template may take to render before the run fails
    /// naming it (a runaway loop).
    #[arg(long, global = true, default_value = "10s", value_name = "DURATION", value_parser = crate::model::parse_duration)]
    pub render_timeout: std::time::Duration,
    /// Bytes of output one release's templates may produce together.
    #[arg(long, global = true, default_value_t = crate::render::DEFAULT_MAX_BYTES, value_name = "BYTES")]
    pub render_max_bytes: u64,
    /// The kubeconfig context to use instead of its current one.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// How log lines on stderr look: text for people, json (one object a
    /// line, with the platform, release, revision and object they are
    /// about) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Global {
    fn options(&self) -> pipeline::Options {
        pipeline::Options {
            locked: self.locked,
            ..pipeline::Options::default()
        }
    }

    /// The cluster the cluster commands talk to.
    fn target(&self) -> crate::client::Target {
        crate::client::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    /// The render budget the flags give.
    fn render_options(&self) -> crate::render::Options {
        crate::render::Options {
            budget: crate::render::Budget {
                timeout: self.render_timeout,
                max_bytes: self.render_max_bytes,
            },
            // One render per command: nothing to keep for a next one.
            cache: None,
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
    #[command(after_help = render::after_help())]
    Render(render::Args),
    /// Every release of the bundle: namespace, package, version, and whether
    /// the platform runs it; dropped dependencies.
    #[command(after_help = list::AFTER_HELP)]
    List(list::Args),
    /// The merged values of one release, optionally with the layer that set
    /// each key.
    #[command(after_help = values::after_help())]
    Values(values::Args),
    /// Resolve versions afresh (all releases, or the ones named) and rewrite
    /// the lock.
    #[command(after_help = update::AFTER_HELP)]
    Update(update::Args),
    /// Show the release dependency graph.
    #[command(
        after_help = "Examples:\n  distro graph                     levels of releases that install in parallel\n  distro graph -o json | jq .order\n  distro graph -o yaml\n  distro graph -o dot | dot -Tpng > graph.png\n  distro graph -o svg > graph.svg  no Graphviz needed\n  distro graph -o mermaid          paste into Markdown\n\nExit codes: 0 ok, 2 invalid input."
    )]
    Graph(graph::Args),
    /// Check everything render checks, print nothing on success.
    #[command(
        after_help = "Examples:\n  distro validate\n  distro validate --locked -p platform.yaml\n  distro validate --images          also: every image used is declared, every declared image used\n\nExit codes: 0 valid, 2 invalid input (with --images: also an image finding)."
    )]
    Validate(validate::Args),
    /// Render, validate, then server-side apply every release in dependency
    /// order, wait for readiness, prune, and report.
    #[command(
        after_help = "Examples:\n  distro apply                          install or upgrade, wait, print the release table\n  distro apply --timeout 10m --concurrency 8\n  distro apply --force-conflicts        take fields owned by another manager\n  distro apply --wait=false -o json\n  distro apply --from platform.tar --registry registry.local:5000/mirror\n\nNothing is written unless the whole distribution is valid.\nExit codes: 0 all releases Ready, 1 some failed, 2 invalid input, 3 cluster unreachable."
    )]
    Apply(apply::Args),
    /// Every container image the rendered distribution uses or declares,
    /// with the releases that use it.
    #[command(after_help = images::AFTER_HELP)]
    Images(images::Args),
    /// Show what apply would change: a server-side dry run of every object.
    #[command(
        after_help = "Examples:\n  distro diff                 unified diff per changed object, objects to prune\n  distro diff && echo in sync\n\nSecret values are masked.\nExit codes: 0 no changes, 1 changes, 2 invalid input or another error, 3 cluster unreachable."
    )]
    Diff(diff::Args),
    /// Per-release readiness read from the cluster.
    #[command(
        after_help = "Examples:\n  distro status               NAMESPACE NAME REVISION READY STATUS\n  distro status -o json | jq '.releases[] | select(.ready != \"True\")'\n  distro status -o yaml\n  kubectl get releases -A     the same, from kubectl\n\nExit codes: 0 ok, 1 the cluster answered with an error, 3 cluster unreachable."
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
    /// Install the controller into the cluster and point a Platform at a
    /// Git repository.
    #[command(after_help = bootstrap::AFTER_HELP)]
    Bootstrap(bootstrap::Args),
    /// Ask the controller to reconcile a Platform now, and wait for it.
    #[command(
        after_help = "Examples:\n  distro reconcile platform cozy                  in distro-system\n  distro reconcile platform cozy -n platforms --timeout 10m\n\nExit codes: 0 Ready, 1 not Ready or timed out, 3 cluster unreachable."
    )]
    Reconcile(platform::ReconcileArgs),
    /// Stop reconciling a Platform until it is resumed.
    #[command(
        after_help = "Examples:\n  distro suspend platform cozy\n\nExit codes: 0 ok, 1 failed, 3 cluster unreachable."
    )]
    Suspend(platform::Target),
    /// Reconcile a suspended Platform again.
    #[command(
        after_help = "Examples:\n  distro resume platform cozy\n\nExit codes: 0 ok, 1 failed, 3 cluster unreachable."
    )]
    Resume(platform::Target),
    /// Push the distribution (platform file, lock, bundles/, packages/) to
    /// a registry as one OCI artifact, after validating it.
    #[command(after_help = push::AFTER_HELP)]
    Push(push::Args),
    /// Pull a distribution artifact into a directory, verifying every digest.
    #[command(after_help = pull::AFTER_HELP)]
    Pull(pull::Args),
    /// Write the distribution and every image it needs into one air-gap
    /// file (an OCI image layout in a tar).
    #[command(after_help = export::AFTER_HELP)]
    Export(export::Args),
    /// Verify an air-gap file, push its images to a private registry by
    /// digest, and print the relocation map.
    #[command(after_help = import::AFTER_HELP)]
    Import(import::Args),
    /// Print a shell completion script.
    #[command(after_help = completion::AFTER_HELP)]
    Completion(completion::Args),
}

/// The top-level `--help` epilogue: examples, then the exit codes.
const fn const_format_help() -> &'static str {
    concat!(
        "Examples:\n",
        "  distro render --out rendered/     one file per release plus index.json\n",
        "  distro render -r app --set replicas=2 --show-only templates/deployment.yaml\n",
        "  distro list                       every release and whether it runs\n",
        "  distro values app --show-origin   merged values, each key with the layer that set it\n",
        "  distro graph -o svg > graph.svg   picture of the release DAG\n",
        "  distro validate --locked          CI check: valid input, lock up to date\n",
        "  distro images -o json             every container image, with the releases using it\n",
        "  distro update cilium              move one release to its newest matching version\n",
        "\n",
        "Exit codes:\n",
        "  0  ok\n",
        "  1  changes (diff) or failures (a release not Ready, an object Failed)\n",
        "  2  invalid input; nothing was written, not even the lock\n",
        "  3  the cluster or a registry cannot be reached (connection, TLS, timeout), or no kubeconfig"
    )
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.log_format);
    let result = match &cli.command {
        Command::Render(args) => {
            watching::run(&cli.global, args.watch, || render::run(&cli.global, args))
        }
        Command::List(args) => list::run(&cli.global, args),
        Command::Values(args) => values::run(&cli.global, args),
        Command::Update(args) => update::run(&cli.global, args),
        Command::Completion(args) => completion::run(args),
        Command::Push(args) => push::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Export(args) => export::run(&cli.global, args),
        Command::Import(args) => import::run(&cli.global, args),
        Command::Graph(args) => graph::run(&cli.global, args),
        Command::Images(args) => images::run(&cli.global, args),
        Command::Validate(args) => {
            watching::run(&cli.global, args.watch, || validate::run(&cli.global, args))
        }
        Command::Apply(args) => {
            watching::run(&cli.global, args.watch, || apply::run(&cli.global, args))
        }
        Command::Diff(args) => {
            watching::run(&cli.global, args.watch, || diff::run(&cli.global, args))
        }
        Command::Status(args) => status::run(&cli.global, args),
        Command::Health(args) => health::run(&cli.global, args),
        Command::Controller(args) => controller::run(&cli.global, args),
        Command::Bootstrap(args) => bootstrap::run(&cli.global, args),
        Command::Reconcile(args) => platform::reconcile(&cli.global, args),
        Command::Suspend(args) => platform::suspend(&cli.global, args, true),
        Command::Resume(args) => platform::suspend(&cli.global, args, false),
    };
    match result {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

fn init_logging(verbose: u8, format: LogFormat) {
    // The client's own log of a failed request repeats the error that is
    // reported anyway, once, naming the server; -v and -vv are about
    // distro's decisions, -vvv shows every library's debug output too.
    let default = match verbose {
        0 => "warn,kube_client::client::builder=off",
        1 => "warn,distro=info,kube_client::client::builder=off",
        2 => "warn,distro=debug,kube_client::client::builder=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        // Escape codes only for a person at a terminal, not in CI logs
        // or files.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // An event's own fields at the top level; the fields of the spans
        // it happened in (platform, release, revision) in `spans`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}

/// Prints an error once and picks the exit code: invalid input is 2, a
/// cluster that cannot be talked to 3, anything else 1.
fn report(error: &anyhow::Error) -> ExitCode {
    if let Some(Invalid(problems)) = error.downcast_ref::<Invalid>() {
        for p in problems {
            eprintln!("error: {p}");
        }
        eprintln!("{} problem(s) found; nothing was written", problems.len());
        return ExitCode::from(EXIT_INVALID);
    }
    print_error(error);
    if is_bad_input(error) {
        return ExitCode::from(EXIT_INVALID);
    }
    if is_unreachable(error) {
        ExitCode::from(EXIT_UNREACHABLE)
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// Whether the error is about reaching the cluster at all (see
/// [`cluster::with_cluster`], which turns transport failures into
/// [`crate::client::Error::Unreachable`]).
fn is_unreachable(error: &anyhow::Error) -> bool {
    use crate::oci::registry::{Error as RegistryError, ErrorKind};
    error.chain().any(|e| {
        e.downcast_ref::<crate::client::Error>().is_some()
            || e.downcast_ref::<RegistryError>()
                .is_some_and(|e| e.kind() == ErrorKind::Unreachable)
            || e.downcast_ref::<crate::oci::artifact::Error>()
                .is_some_and(crate::oci::artifact::Error::is_unreachable)
    })
}

/// Input refused before anything was done, outside the pipeline's
/// problems: a malformed OCI reference, a `--out` in the way, an
/// unreadable Docker config.
fn is_bad_input(error: &anyhow::Error) -> bool {
    use crate::oci::registry::Error as RegistryError;
    error.chain().any(|e| {
        e.downcast_ref::<crate::oci::reference::Error>().is_some()
            || e.downcast_ref::<pull::OutError>().is_some()
            || e.downcast_ref::<RegistryError>()
                .is_some_and(|e| matches!(e, RegistryError::Credentials(_)))
    })
}

/// Prints an error on one line: the message, then each cause that the
/// message does not already include (thiserror messages often repeat their
/// source).
fn print_error(error: &anyhow::Error) {
    eprintln!("error: {}", one_line(error));
}

fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
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

/// Pretty JSON and a newline: the `-o json` form of every command.
fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// The `-o yaml` form: the same data as `-o json`, as YAML.
fn yaml_text<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<String> {
    Ok(crate::yaml::to_string(&serde_json::to_value(value)?))
}

/// The `-o yaml` form of JSON text a library function wrote.
fn yaml_of_json(json: &str) -> anyhow::Result<String> {
    yaml_text(&serde_json::from_str::<serde_json::Value>(json)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let inner = std::io::Error::other("connection refused");
        let e = anyhow::Error::from(inner).context("reading: connection refused");
        assert_eq!(one_line(&e), "reading: connection refused");
        let e = anyhow::Error::from(std::io::Error::other("disk full")).context("writing x");
        assert_eq!(one_line(&e), "writing x: disk full");
    }

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_exit_code() {
        assert!(const_format_help().ends_with(EXIT_CODES));
    }
}
