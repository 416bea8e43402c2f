//! `distro update [RELEASE...]`: move releases to the highest version their
//! requirement allows and rewrite the lock, as `cargo update` does.

use std::process::ExitCode;

use super::Global;
use crate::lock::{self, Lock};
use crate::pipeline::{self, Update};

pub const AFTER_HELP: &str = "Examples:\n  distro update                    every release to its highest matching version\n  distro update cilium cert-manager   only these; the others keep their locked version\n  distro update -p staging/platform.yaml\n\nA plain render, validate or apply keeps each locked version while it still\nmatches the release's requirement, so a new version dropped into packages/\nmoves nothing until it is asked for here. The distribution is rendered first:\nthe lock is only rewritten when everything is valid.\n\nExit codes: 0 ok, 2 invalid input (nothing written; with --locked, a lock that would change).";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The releases to update; all of them when none is named.
    #[arg(value_name = "RELEASE")]
    pub releases: Vec<String>,
}

pub fn run(global: &Global, args: &Args) -> anyhow::Result<ExitCode> {
    let snapshot = global.snapshot()?;
    // What the lock said, for the summary; a broken one said nothing.
    let before = lock::read(&snapshot).ok().flatten();
    let options = pipeline::Options {
        update: if args.releases.is_empty() {
            Update::All
        } else {
            Update::Only(args.releases.clone())
        },
        ..global.options()
    };
    let rendered = pipeline::render(snapshot, &options)?;
    pipeline::write_lock(&rendered.loaded)?;
    let lines = summary(before.as_ref(), &rendered.loaded.lock);
    let shown = rendered.loaded.snapshot.display(&lock::snapshot_path(
        rendered.loaded.snapshot.platform_file(),
    ));
    if lines.is_empty() {
        eprintln!("{shown} is up to date");
    } else {
        for line in lines {
            eprintln!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `Updating app 1.0.0 -> 1.1.0` for each version that moved, as Cargo
/// words it; releases new to the lock are `Locking`, gone ones `Removing`.
fn summary(before: Option<&Lock>, after: &Lock) -> Vec<String> {
    let old = |name: &str| before.and_then(|l| l.releases.iter().find(|e| e.name == name));
    let mut lines = Vec::new();
    for entry in &after.releases {
        match old(&entry.name) {
            None => lines.push(format!("Locking {} {}", entry.name, entry.version)),
            Some(e) if e.package != entry.package => lines.push(format!(
                "Updating {}: {} {} -> {} {}",
                entry.name, e.package, e.version, entry.package, entry.version
            )),
            Some(e) if e.version != entry.version => lines.push(format!(
                "Updating {} {} -> {}",
                entry.name, e.version, entry.version
            )),
            Some(_) => {}
        }
    }
    for e in before.map(|l| l.releases.as_slice()).unwrap_or_default() {
        if !after.releases.iter().any(|a| a.name == e.name) {
            lines.push(format!("Removing {} {}", e.name, e.version));
        }
    }
    lines
}
