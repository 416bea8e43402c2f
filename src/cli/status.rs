//! `distro status`.

use std::process::ExitCode;

use serde::Serialize;

use super::Global;
use super::cluster::{Format, Row, table, with_cluster};
use crate::controller::platform::{self, Platform};
use crate::status::{Store, is_missing_resource};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// One Platform, as `distro status` shows it.
#[derive(Debug, Serialize)]
struct PlatformRow {
    namespace: String,
    name: String,
    source: String,
    revision: String,
    ready: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct Status {
    platforms: Vec<PlatformRow>,
    releases: Vec<Row>,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let status = with_cluster(global, |client| async move {
        // Every platform's releases, as `kubectl get releases -A` shows.
        let records = Store::new(client.clone(), Default::default())
            .list_all()
            .await?;
        let platforms = match platform::api(&client, None).list(&Default::default()).await {
            Ok(list) => list.items,
            // No controller installed: no Platforms, only releases.
            Err(e) if is_missing_resource(&e) => Vec::new(),
            Err(e) => return Err(anyhow::Error::from(e).context("listing Platform objects")),
        };
        let platforms = platforms
            .iter()
            .filter_map(|o| Platform::from_object(o).ok())
            .map(|p| {
                let ready = p.status.ready();
                PlatformRow {
                    source: p.spec.source.display_url(),
                    revision: p.status.last_applied_revision.clone().unwrap_or_default(),
                    ready: ready
                        .map(|c| c.status.to_string())
                        .unwrap_or_else(|| "Unknown".into()),
                    message: ready.map(|c| c.message.clone()).unwrap_or_default(),
                    namespace: p.namespace,
                    name: p.name,
                }
            })
            .collect();
        Ok::<_, anyhow::Error>(Status {
            platforms,
            releases: records.iter().map(Row::from_record).collect(),
        })
    })?;
    match args.output {
        Format::Table => {
            let mut out = String::new();
            if !status.platforms.is_empty() {
                out.push_str(&platform_table(&status.platforms));
                out.push('\n');
            }
            out.push_str(&table(&status.releases));
            super::print(&out)?
        }
        Format::Json => super::print(&super::json_text(&status)?)?,
        Format::Yaml => super::print(&super::yaml_text(&status)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn platform_table(rows: &[PlatformRow]) -> String {
    let headers = ["PLATFORM", "SOURCE", "REVISION", "READY", "STATUS"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                format!("{}/{}", r.namespace, r.name),
                r.source.clone(),
                r.revision.clone(),
                r.ready.clone(),
                r.message.lines().next().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    super::cluster::columns(&headers, &cells)
}
