//! `distro diff`.

use std::process::ExitCode;

use super::Global;
use super::cluster::with_cluster;
use crate::apply::{self, Context, Options};
use crate::pipeline;
use crate::status::Owner;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub watch: super::watching::Watch,
    /// Compare as if --force-conflicts were given to apply.
    #[arg(long)]
    pub force_conflicts: bool,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let rendered = pipeline::render_with(
        global.snapshot()?,
        &global.options(),
        &global.render_options(),
    )?;
    let owner = Owner {
        platform: rendered.loaded.distribution.platform.name.clone(),
        namespace: None,
    };
    let releases = &rendered.releases;
    let result = with_cluster(global, |client| async move {
        let ctx = Context::new(
            client,
            owner,
            Options {
                force_conflicts: args.force_conflicts,
                ..Options::default()
            },
        );
        apply::diff(&ctx, releases)
            .await
            .map_err(anyhow::Error::from)
    });
    // Exit 1 means "changes" here, so every error but an unreachable
    // cluster (3) is 2.
    let report = match result {
        Ok(report) => report,
        Err(e) if super::is_unreachable(&e) => return Err(e),
        Err(e) => {
            super::print_error(&e);
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
    };
    pipeline::write_lock(&rendered.loaded)?;
    let mut out = String::new();
    for d in &report.objects {
        out.push_str(&format!("# {} {} ({})\n", d.action, d.object, d.release));
        out.push_str(&d.diff);
        if !d.diff.ends_with('\n') {
            out.push('\n');
        }
    }
    super::print(&out)?;
    Ok(if report.has_changes() {
        ExitCode::from(super::EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
