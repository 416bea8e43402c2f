//! `distro render`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Global;
use crate::pipeline;
use crate::render::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write DIR/<release>.yaml per release and DIR/index.json instead of
    /// printing one stream.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let rendered = pipeline::render(global.snapshot()?, &global.options())?;
    match &args.out {
        Some(dir) => output::write_dir(&rendered.releases, dir).context("cannot write --out")?,
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match output::stream(&rendered.releases, &mut out) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    // Last: a run that failed to write its output leaves the lock alone.
    pipeline::write_lock(&rendered.loaded)?;
    Ok(ExitCode::SUCCESS)
}
