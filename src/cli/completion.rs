//! `distro completion SHELL`: a completion script for the shell.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

pub const AFTER_HELP: &str = "Examples:\n  source <(distro completion bash)                          bash, this shell\n  distro completion bash > /etc/bash_completion.d/distro\n  distro completion zsh > \"${fpath[1]}/_distro\"\n  distro completion fish > ~/.config/fish/completions/distro.fish\n\nExit codes: 0 ok.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut command = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "distro", &mut script);
    super::print(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
