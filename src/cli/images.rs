//! `distro images`: every container image the rendered distribution uses
//! or declares.

use std::process::ExitCode;

use super::Global;
use crate::oci::images;
use crate::pipeline::{self, Invalid};

pub const AFTER_HELP: &str = "Examples:
  distro images                    IMAGE RELEASES, one line per image
  distro images -o json | jq -r '.[].image'
  distro images -o json | jq '.[] | select(.declared | not)'
  distro images -o yaml

Images are found in the rendered objects (containers, initContainers and
ephemeralContainers of every pod spec, image volumes, and image fields of
custom resources) and in each package's images: list, normalised as Docker
does (nginx is docker.io/library/nginx:latest). In -o json, found says a
rendered object names the image (uses says where), declared that the package
lists it, deployedBy which component starts it at run time.

Exit codes: 0 ok, 2 invalid input (also: an image field or images: entry that
is not a valid reference).";

/// Output formats of `distro images`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let rendered = pipeline::render_with(
        global.snapshot()?,
        &global.options(),
        &global.render_options(),
    )?;
    let list =
        images::list(&rendered).map_err(|e| Invalid(e.into_iter().map(Into::into).collect()))?;
    let text = match args.output {
        Format::Text => table(&list),
        Format::Json => super::json_text(&list)?,
        Format::Yaml => super::yaml_text(&list)?,
    };
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn table(list: &[images::Image]) -> String {
    let cells: Vec<[String; 2]> = list
        .iter()
        .map(|i| [i.image.clone(), i.releases.join(",")])
        .collect();
    super::cluster::columns(&["IMAGE", "RELEASES"], &cells)
}
