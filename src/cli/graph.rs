//! `distro graph`.

use std::process::ExitCode;

use super::Global;
use crate::graph;
use crate::pipeline;

/// Output formats: the graph module's, and YAML of its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
    Dot,
    Mermaid,
    Svg,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let loaded = pipeline::load(global.snapshot()?, &global.options())?;
    let write = |format| graph::write(&loaded.graph, format);
    let text = match args.output {
        Format::Text => write(graph::Format::Text),
        Format::Json => write(graph::Format::Json),
        Format::Yaml => super::yaml_of_json(&write(graph::Format::Json))?,
        Format::Dot => write(graph::Format::Dot),
        Format::Mermaid => write(graph::Format::Mermaid),
        Format::Svg => write(graph::Format::Svg),
    };
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
