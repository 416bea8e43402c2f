//! `distro validate`.

use std::process::ExitCode;

use super::Global;
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub watch: super::watching::Watch,
}

pub fn run(global: &Global, _args: &Args) -> anyhow::Result<ExitCode> {
    let rendered = pipeline::render_with(
        global.snapshot()?,
        &global.options(),
        &global.render_options(),
    )?;
    pipeline::write_lock(&rendered.loaded)?;
    Ok(ExitCode::SUCCESS)
}
