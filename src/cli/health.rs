//! `distro health`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Global;
use crate::health::{self, Status, output};

/// Help text after the options; also the subcommand's `after_help`.
pub const AFTER_HELP: &str = "Examples:\n  kubectl get deploy,sts,ds -A -o yaml | distro health -f -\n  distro health -f objects.yaml          table: KIND NAMESPACE NAME STATUS MESSAGE\n  distro health -f objects.yaml -o json | jq '.[] | select(.status != \"Current\")'\n  distro health -f objects.yaml -o yaml\n\nStatuses follow kstatus: Current, InProgress, Failed, Terminating.\nExit codes: 0 no object Failed, 1 some object Failed or the file cannot be read, 2 it is not valid YAML or has objects without kind/name.";

/// Output formats: the health module's, and YAML of its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Objects to assess, as YAML or JSON (one or more documents, or a
    /// `kind: List`); `-` reads stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

pub fn run(_global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let stdin = args.file.as_os_str() == "-";
    let shown = if stdin {
        "<stdin>".to_string()
    } else {
        args.file.display().to_string()
    };
    let text = if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        text
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading {shown}"))?
    };
    let results = match health::assess_documents(&text) {
        Ok(results) => results,
        // Invalid input, as for every other command.
        Err(e) => {
            eprintln!(
                "error: {shown}:{}: document {}: {}",
                e.line, e.document, e.message
            );
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
    };
    let text = match args.output {
        Format::Text => output::write(&results, output::Format::Text),
        Format::Json => output::write(&results, output::Format::Json),
        Format::Yaml => super::yaml_of_json(&output::write(&results, output::Format::Json))?,
    };
    super::print(&text)?;
    // As kubectl wait fails on a failed condition: scripts can test it.
    if results.iter().any(|(_, a)| a.status == Status::Failed) {
        return Ok(ExitCode::from(super::EXIT_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}
