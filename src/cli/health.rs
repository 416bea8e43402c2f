//! `distro health`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Global;
use crate::health::{self, output::Format};

/// Help text after the options; also the subcommand's `after_help`.
pub const AFTER_HELP: &str = "Examples:\n  kubectl get deploy,sts,ds -A -o yaml | distro health -f -\n  distro health -f objects.yaml          table: KIND NAMESPACE NAME STATUS MESSAGE\n  distro health -f objects.yaml -o json | jq '.[] | select(.status != \"Current\")'\n\nStatuses follow kstatus: Current, InProgress, Failed, Terminating.\nExit codes: 0 ok, 1 the file cannot be read, 2 it is not valid YAML or has objects without kind/name.";

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
    super::print(&health::output::write(&results, args.output))?;
    Ok(ExitCode::SUCCESS)
}
