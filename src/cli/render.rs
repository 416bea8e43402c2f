//! `distro render`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{Global, inputs};
use crate::pipeline;
use crate::render::output;

/// Help text after the options.
pub fn after_help() -> String {
    format!(
        "Examples:
  distro render                    all manifests as one YAML stream on stdout
  distro render --out rendered/    rendered/<release>.yaml and rendered/index.json
  distro render -r cert-manager    one release (repeatable)
  distro render -r app --show-only templates/deployment.yaml
  distro render -r app --set replicas=2 --set image.tag=1.2.0
  distro render -f ha.yaml --set platform.clusterDomain=prod.local
  distro render --kube-version 1.31.0
  distro render -p staging/platform.yaml --locked
  distro render --from platform.tar --registry registry.local:5000/mirror

{}

Exit codes: 0 ok, 2 invalid input (nothing written).",
        inputs::RULES
    )
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub watch: super::watching::Watch,
    /// Write DIR/<release>.yaml per release and DIR/index.json instead of
    /// printing one stream (the whole platform: not with -r or --show-only).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["release", "show_only"])]
    pub out: Option<PathBuf>,
    /// Render only this release (repeatable); --set and --values then apply
    /// to the releases chosen.
    #[arg(short = 'r', long = "release", value_name = "NAME")]
    pub release: Vec<String>,
    /// Print only the objects of this template or CRD file (repeatable):
    /// `templates/deployment.yaml`, or `app/templates/deployment.yaml` as
    /// the `# Source:` line names it.
    #[arg(short = 's', long, value_name = "TEMPLATE")]
    pub show_only: Vec<String>,
    #[command(flatten)]
    pub inputs: inputs::Inputs,
    #[command(flatten)]
    pub from: super::from::From,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let (snapshot, relocation) = match args.from.load()? {
        Some(installed) => (installed.snapshot, Some(installed.relocation)),
        None => (global.snapshot()?, None),
    };
    let options = pipeline::Options {
        releases: args.release.clone(),
        relocation,
        ..args.inputs.options(global)?
    };
    let rendered = pipeline::render_with(snapshot, &options, &global.render_options())?;
    if !args.show_only.is_empty() {
        let mut text = String::new();
        for (release, object) in pipeline::show_only(&rendered, &args.show_only)? {
            // The same document as in the full stream.
            text.push_str("---\n# Source: ");
            text.push_str(&release.name);
            text.push('/');
            text.push_str(&object.source);
            text.push('\n');
            text.push_str(object.yaml());
        }
        super::print(&text)?;
    } else {
        match &args.out {
            Some(dir) => {
                output::write_dir(&rendered.releases, dir).context("cannot write --out")?
            }
            None => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                match output::stream(&rendered.releases, &mut out) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                    _ => {}
                }
            }
        }
    }
    // Last: a run that failed to write its output leaves the lock alone.
    pipeline::write_lock(&rendered.loaded)?;
    Ok(ExitCode::SUCCESS)
}
