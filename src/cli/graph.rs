//! `distro graph`.

use std::process::ExitCode;

use super::Global;
use crate::graph::{self, Format};
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let loaded = pipeline::load(global.snapshot()?, &global.options())?;
    super::print(&graph::write(&loaded.graph, args.output))?;
    Ok(ExitCode::SUCCESS)
}
