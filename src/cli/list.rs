//! `distro list`: every release of the bundle, as `helm list` and
//! `helmfile list` show theirs, with whether the platform runs it.

use std::process::ExitCode;

use serde::Serialize;

use super::Global;
use crate::model::DropReason;
use crate::pipeline;

pub const AFTER_HELP: &str = "Examples:\n  distro list                      NAME NAMESPACE PACKAGE VERSION STATE, then dropped dependencies\n  distro list -o json | jq -r '.[] | select(.state == \"enabled\") | .name'\n  distro list -o yaml\n\nSTATE is enabled, disabled (listed under disable: in the platform file) or\noptional-off (optional in the bundle and not listed under enable:). VERSION is\nthe version the release resolves to (the lock's while it still matches).\n\nExit codes: 0 ok, 2 invalid input.";

/// Output formats of `distro list`.
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

/// One release, as `-o json` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    name: String,
    namespace: String,
    package: String,
    /// As written in the bundle.
    requirement: String,
    /// What it resolves to; `null` for a release that is off.
    version: Option<String>,
    /// `enabled`, `disabled` or `optional-off`.
    state: &'static str,
    /// Why it is off, in words.
    reason: Option<String>,
    optional: bool,
    depends_on: Vec<String>,
    /// Dependencies on releases that are off, and why they are.
    dropped: Vec<Dropped>,
}

#[derive(Debug, Serialize)]
struct Dropped {
    dependency: String,
    reason: DropReason,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let loaded = pipeline::load(global.snapshot()?, &global.options())?;
    let dist = &loaded.distribution;
    let platform_file = loaded.snapshot.platform_file();
    let rows: Vec<Row> = dist
        .entries
        .iter()
        .map(|e| {
            let release = dist.releases.iter().find(|r| r.name == e.name);
            let (state, reason) = match e.off {
                None => ("enabled", None),
                Some(DropReason::Disabled) => (
                    "disabled",
                    Some(format!("listed under disable: in {platform_file}")),
                ),
                Some(DropReason::OptionalNotEnabled) => (
                    "optional-off",
                    Some(format!(
                        "optional in the bundle, not listed under enable: in {platform_file}"
                    )),
                ),
            };
            Row {
                name: e.name.clone(),
                namespace: e.namespace.clone(),
                package: e.package.clone(),
                requirement: e.requirement.clone(),
                version: release.map(|r| r.package.meta.version.clone()),
                state,
                reason,
                optional: e.optional,
                depends_on: release.map(|r| r.depends_on.clone()).unwrap_or_default(),
                dropped: release
                    .map(|r| {
                        r.dropped
                            .iter()
                            .map(|d| Dropped {
                                dependency: d.dependency.clone(),
                                reason: d.reason,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let text = match args.output {
        Format::Text => table(&rows, platform_file),
        Format::Json => super::json_text(&rows)?,
        Format::Yaml => super::yaml_text(&rows)?,
    };
    super::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[Row], platform_file: &str) -> String {
    let headers = ["NAME", "NAMESPACE", "PACKAGE", "VERSION", "STATE"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.namespace.clone(),
                r.package.clone(),
                r.version.clone().unwrap_or_else(|| "-".into()),
                // The reason in short; -o json has it in full.
                match r.state {
                    "disabled" => format!("disabled (disable: in {platform_file})"),
                    "optional-off" => "optional-off (optional, not in enable:)".to_string(),
                    state => state.to_string(),
                },
            ]
        })
        .collect();
    let mut out = super::cluster::columns(&headers, &cells);
    let dropped: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.dropped
                .iter()
                .map(move |d| format!("  {} -> {} ({})\n", r.name, d.dependency, d.reason))
        })
        .collect();
    if !dropped.is_empty() {
        out.push_str("\ndropped dependencies\n");
        out.extend(dropped);
    }
    out
}
