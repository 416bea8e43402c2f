//! `distro validate`.

use std::process::ExitCode;

use super::Global;
use crate::oci::images;
use crate::pipeline::{self, Invalid};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub watch: super::watching::Watch,
    /// Also check images: every image a rendered object runs is declared
    /// under its package's images:, and every declared image is used (by a
    /// rendered manifest or the release's values, or marked deployedBy:).
    /// Findings are invalid input (exit code 2).
    #[arg(long)]
    pub images: bool,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let rendered = pipeline::render_with(
        global.snapshot()?,
        &global.options(),
        &global.render_options(),
    )?;
    if args.images {
        images::check(&rendered).map_err(|e| Invalid(e.into_iter().map(Into::into).collect()))?;
    }
    pipeline::write_lock(&rendered.loaded)?;
    Ok(ExitCode::SUCCESS)
}
