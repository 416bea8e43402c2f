//! `--watch` on render, validate, diff and apply: run the command once,
//! then again on every change under the distribution, saying which
//! releases changed since the last run, until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Global;
use crate::pipeline;
use crate::render::output::{IndexEntry, index};
use crate::watch;

/// The flag the watching commands share.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Watch {
    /// Run again on every change under packages/, bundles/ and the platform
    /// file, showing which releases changed, until interrupted (Ctrl-C).
    #[arg(long)]
    pub watch: bool,
}

/// Runs `once`, and with `--watch` keeps running it on every change.
pub fn run(
    global: &Global,
    flag: Watch,
    mut once: impl FnMut() -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    if !flag.watch {
        return once();
    }
    let root = global
        .snapshot()?
        .dir()
        .map(PathBuf::from)
        .unwrap_or_default();
    let shown = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root.clone()
    };
    let paths: Vec<PathBuf> = [
        global.platform.clone(),
        shown.join("packages"),
        shown.join("bundles"),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    let mut last: Option<Vec<IndexEntry>> = None;
    watch::watch(&paths, watch::DEBOUNCE, || {
        // What changed, from a render of its own: the command may print
        // nothing (validate) or something else (diff).
        let now = global
            .snapshot()
            .ok()
            .and_then(|s| pipeline::render(s, &global.options()).ok())
            .map(|r| index(&r.releases));
        if let (Some(before), Some(now)) = (&last, &now) {
            let changes = watch::changes(before, now);
            if changes.is_empty() {
                eprintln!("== no release changed");
            }
            for line in changes {
                eprintln!("== {line}");
            }
        }
        if now.is_some() {
            last = now;
        }
        match once() {
            Ok(code) if code != ExitCode::SUCCESS => eprintln!("== exit {code:?}"),
            Ok(_) => {}
            Err(e) => {
                super::report(&e);
            }
        }
        eprintln!(
            "== watching {} for changes (Ctrl-C to stop)",
            shown.display()
        );
        true
    })?;
    Ok(ExitCode::SUCCESS)
}
