//! `distro bootstrap`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::Global;
use super::cluster::{Format, with_cluster};
use super::inputs::Inputs;
use crate::bootstrap::{self, Installed, Request, Source, Waited, platform_file, secret};
use crate::model::{self, parse_duration};
use crate::pipeline::{Invalid, Problem};
use crate::source::git::GitRef;

pub const AFTER_HELP: &str = "Examples:\n  distro bootstrap                      the source and interval of platform.yaml\n  distro bootstrap -p clusters/prod/platform.yaml --secret-file git.env\n  distro bootstrap --branch staging --interval 2m   the file's source, another branch\n  distro bootstrap --git https://git.example.com/platform.git --secret-file git.env\n  distro bootstrap --git ssh://git@git.example.com/platform.git --secret-file id_ed25519 --known-hosts-file known_hosts\n  distro bootstrap --git https://git.example.com/p.git --path clusters/prod --name prod --wait=false -o json\n  distro bootstrap --git https://git.example.com/p.git --set image.repository=registry.internal/distro\n\nInstalls the distro package built into this binary (the controller of this\nversion), then the Secret <name>-git from --secret-file and the Platform.\nWithout --git, the Platform follows the platform file's source: (git url,\nbranch, tag or commit, path; or an oci url) every interval:; --branch,\n--path and --interval override the file. With --git the file is not read.\nA --secret-file holds username=/password= or bearerToken= lines (http, https),\nor an unencrypted SSH private key (ssh, with --known-hosts-file). Running it\nagain changes nothing unless a flag changed.\n\nExit codes: 0 installed (and Ready when waiting), 1 not Ready in time or a failure, 2 invalid input (nothing written), 3 cluster unreachable.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Git repository the controller follows (https://, http://,
    /// ssh:// or git://). Default: the platform file's `source:`.
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// The branch to follow [default: main, or the platform file's ref].
    #[arg(long)]
    pub branch: Option<String>,
    /// The repository's directory that holds platform.yaml [default: ., or
    /// the platform file's source.git.path].
    #[arg(long)]
    pub path: Option<String>,
    /// Git credentials for the Secret the Platform uses (see below).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// The Git server's SSH host keys (OpenSSH known_hosts lines), with an
    /// SSH key in --secret-file.
    #[arg(long, value_name = "FILE", requires = "secret_file")]
    pub known_hosts_file: Option<PathBuf>,
    /// How often the controller reconciles without a change (30s, 5m, 1h)
    /// [default: 1m, or the platform file's interval].
    #[arg(long)]
    pub interval: Option<String>,
    /// The namespace of the controller, the Secret and the Platform.
    #[arg(short, long, default_value = "distro-system")]
    pub namespace: String,
    /// The Platform's name.
    #[arg(long, default_value = "platform")]
    pub name: String,
    /// Wait for the controller to be available and the Platform Ready
    /// (`--wait=false` to only install).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub wait: bool,
    /// How long to wait.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Values for the distro package (image, replicas, rbac.clusterAdmin...).
    #[command(flatten)]
    pub inputs: Inputs,
    /// Output format of the result.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// The result, as `-o json` prints it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome<'a> {
    namespace: &'a str,
    platform: &'a str,
    #[serde(flatten)]
    installed: &'a Installed,
    /// `None` with `--wait=false`.
    wait: Option<&'a Waited>,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    // check and render (no cluster): every problem at once, nothing written.
    let (request, options) = request(global, args)?;
    bootstrap::render(
        &request,
        STAND_IN_KUBE_VERSION,
        &options,
        &global.render_options(),
    )?;

    let render_options = global.render_options();
    let (installed, waited) = with_cluster(global, |client| async move {
        // The templates and the package's kubeVersion see the real cluster.
        let kube_version = match &options.kube_version {
            Some(v) => v.to_string(),
            None => bootstrap::kube_version(&client)
                .await?
                .unwrap_or_else(|| STAND_IN_KUBE_VERSION.into()),
        };
        let rendered = bootstrap::render(&request, &kube_version, &options, &render_options)?;
        eprintln!(
            "installing the distro controller {} in namespace {}",
            bootstrap::package::VERSION,
            request.namespace
        );
        let installed = bootstrap::install(&client, &request, &rendered).await?;
        let waited = if args.wait {
            let progress = |line: &str| eprintln!("{line}");
            Some(bootstrap::wait(&client, &request, args.timeout, progress).await?)
        } else {
            None
        };
        Ok((installed, waited))
    })?;

    let outcome = Outcome {
        namespace: &args.namespace,
        platform: &args.name,
        installed: &installed,
        wait: waited.as_ref(),
    };
    match args.output {
        Format::Json => super::print(&super::json_text(&outcome)?)?,
        Format::Yaml => super::print(&super::yaml_text(&outcome)?)?,
        Format::Table => super::print(&text(&outcome))?,
    }
    match &waited {
        Some(w) if !w.ready => {
            eprintln!("error: {}", w.message);
            Ok(ExitCode::from(super::EXIT_FAILED))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// What templates see before the cluster is asked for its version.
const STAND_IN_KUBE_VERSION: &str = "1.34.0";

/// The request from the flags, and the values for the package; every input
/// problem (flags, files) at once.
fn request(global: &Global, args: &Args) -> Result<(Request, crate::pipeline::Options), Invalid> {
    let mut problems: Vec<Problem> = Vec::new();
    let problem = |flag: &str, message: String| Problem::Model(model::Error::file(flag, message));
    let read = |flag: &str, path: &PathBuf| {
        secret::read_small(path)
            .map_err(|m| format!("{}: {m}", path.display()))
            .map_err(|m| (flag.to_string(), m))
    };
    let known_hosts = match &args.known_hosts_file {
        Some(path) => match read("--known-hosts-file", path) {
            Ok(text) => Some(text),
            Err((flag, m)) => {
                problems.push(problem(&flag, m));
                None
            }
        },
        None => None,
    };
    let secret = match &args.secret_file {
        Some(path) => match read("--secret-file", path) {
            Ok(text) => match secret::parse(&text, known_hosts.as_deref()) {
                Ok(s) => Some(s),
                Err(m) => {
                    problems.push(problem("--secret-file", format!("{}: {m}", path.display())));
                    None
                }
            },
            Err((flag, m)) => {
                problems.push(problem(&flag, m));
                None
            }
        },
        None => None,
    };
    let Some((origin, source, path, interval)) = source(global, args, &mut problems) else {
        return Err(Invalid(problems));
    };
    let request = Request {
        source,
        path,
        interval,
        namespace: args.namespace.clone(),
        name: args.name.clone(),
        secret,
    };
    for (flag, message) in request.check() {
        problems.push(problem(&origin.name(flag), message));
    }
    let options = match args.inputs.options(global) {
        Ok(o) => Some(o),
        Err(Invalid(mut more)) => {
            problems.append(&mut more);
            None
        }
    };
    match options {
        Some(options) if problems.is_empty() => Ok((request, options)),
        _ => Err(Invalid(problems)),
    }
}

/// Which of the request's fields the platform file gave, to name the file
/// (not a flag that was not given) in a problem with one of them.
#[derive(Default)]
struct Origin {
    file: Option<String>,
    reference: bool,
    path: bool,
    interval: bool,
}

impl Origin {
    /// `flag`, or the field of the platform file that gave its value.
    fn name(&self, flag: &str) -> String {
        let Some(file) = &self.file else {
            return flag.to_string();
        };
        let field = match flag {
            "--git" => "source",
            "--branch" if self.reference => "source.git",
            "--path" if self.path => "source.git.path",
            "--interval" if self.interval => "interval",
            _ => return flag.to_string(),
        };
        format!("{file}: {field}")
    }
}

/// The source, path and interval: from the flags with --git, else from the
/// platform file, with the flags over it. `None` (and a problem) when
/// neither names a source.
fn source(
    global: &Global,
    args: &Args,
    problems: &mut Vec<Problem>,
) -> Option<(Origin, Source, String, String)> {
    let default_path = || ".".to_string();
    let default_interval = || "1m".to_string();
    if let Some(url) = &args.git {
        let reference = GitRef::Branch(args.branch.clone().unwrap_or_else(|| "main".into()));
        let source = Source::Git {
            url: url.clone(),
            reference,
        };
        let path = args.path.clone().unwrap_or_else(default_path);
        let interval = args.interval.clone().unwrap_or_else(default_interval);
        return Some((Origin::default(), source, path, interval));
    }
    let from_file = match platform_file::read(&global.platform) {
        Ok(f) => f,
        Err(e) => {
            problems.push(Problem::Model(e));
            return None;
        }
    };
    let file = global.platform.display().to_string();
    let mut source = from_file.source;
    match (&mut source, &args.branch) {
        (_, None) => {}
        (Source::Git { reference, .. }, Some(branch)) => {
            *reference = GitRef::Branch(branch.clone())
        }
        (Source::Oci { .. }, Some(_)) => problems.push(Problem::Model(model::Error::file(
            "--branch",
            format!("goes with a Git source; {file} names an OCI artifact"),
        ))),
    }
    let origin = Origin {
        reference: args.branch.is_none(),
        path: args.path.is_none() && from_file.path.is_some(),
        interval: args.interval.is_none() && from_file.interval.is_some(),
        file: Some(file),
    };
    let path = args
        .path
        .clone()
        .or(from_file.path)
        .unwrap_or_else(default_path);
    let interval = args
        .interval
        .clone()
        .or(from_file.interval)
        .unwrap_or_else(default_interval);
    Some((origin, source, path, interval))
}

/// The text form: each object and its action, then the wait's outcome.
fn text(outcome: &Outcome) -> String {
    let installed = outcome.installed;
    let mut out = String::new();
    for change in &installed.release.changes.changes {
        out.push_str(&format!("{} {}\n", change.object, change.action));
    }
    if let Some(secret) = &installed.secret {
        out.push_str(&format!("{} {}\n", secret.object, secret.action));
    }
    out.push_str(&format!(
        "{} {}\n",
        installed.platform.object, installed.platform.action
    ));
    let summary = if installed.wrote() {
        "installed"
    } else {
        "already installed; nothing changed"
    };
    out.push_str(&format!(
        "distro controller {} in {}: {summary}\n",
        installed.release.revision, outcome.namespace
    ));
    if let Some(w) = outcome.wait
        && w.ready
    {
        out.push_str(&format!("{}\n", w.message));
    }
    out
}
