//! The pipeline from a [`Snapshot`] to rendered releases, in one place, so
//! that every front end (command line, controller) runs exactly the same
//! checks.
//!
//! # Guarantees
//! The pipeline is pure: it reads only the snapshot and writes nothing, not
//! even the lock. The commands that own files (`render`, `validate`, ...)
//! write `distro.lock` themselves, after everything else succeeded.

use crate::graph::{self, Graph};
use crate::lock::{self, Lock};
use crate::model::{self, Distribution};
use crate::render::{self, RenderedRelease};
use crate::source::{self, Snapshot};

/// Everything that makes a distribution invalid, from any stage.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Source(#[from] source::Error),
    #[error(transparent)]
    Model(#[from] model::Error),
    #[error(transparent)]
    Graph(#[from] graph::Error),
    #[error(transparent)]
    Render(#[from] render::Error),
    #[error(transparent)]
    Lock(#[from] lock::Error),
}

/// The problems of one run: all of them, not only the first.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) found", .0.len())]
pub struct Invalid(pub Vec<Problem>);

impl Invalid {
    /// The problems, one per line, cut to about `limit` bytes (a status
    /// condition or an Event must stay small), saying how many were left out.
    pub fn summary(&self, limit: usize) -> String {
        let mut out = String::new();
        for (i, p) in self.0.iter().enumerate() {
            let line = p.to_string();
            if !out.is_empty() && out.len() + line.len() + 1 > limit {
                out.push_str(&format!("\n... and {} more", self.0.len() - i));
                break;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            if line.len() > limit {
                let mut cut = limit;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push_str(&line[..cut]);
                out.push_str("...");
            } else {
                out.push_str(&line);
            }
        }
        out
    }
}

impl From<source::Error> for Invalid {
    fn from(e: source::Error) -> Self {
        invalid(vec![e])
    }
}

fn invalid<E: Into<Problem>>(errors: Vec<E>) -> Invalid {
    Invalid(errors.into_iter().map(Into::into).collect())
}

/// How to run the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fail when the snapshot's `distro.lock` does not match.
    pub locked: bool,
}

/// A loaded distribution and its graph, before rendering.
pub struct Loaded {
    pub snapshot: Snapshot,
    pub distribution: Distribution,
    pub graph: Graph,
    /// What the lock should say now.
    pub lock: Lock,
}

impl Loaded {
    /// Whether the snapshot's lock differs from what the inputs resolve to
    /// (a command that owns the directory rewrites it).
    pub fn lock_changed(&self) -> bool {
        lock::check(&self.snapshot, &self.lock).is_err()
    }
}

/// A rendered distribution.
pub struct Rendered {
    pub loaded: Loaded,
    /// Releases in apply order (the graph's topological order).
    pub releases: Vec<RenderedRelease>,
}

/// Validates and resolves the distribution and builds its DAG.
///
/// # Errors
/// Every input problem found up to the graph; with `locked`, a stale lock.
pub fn load(snapshot: Snapshot, options: &Options) -> Result<Loaded, Invalid> {
    let distribution = model::load(&snapshot).map_err(invalid)?;
    let graph = graph::build(&distribution.releases).map_err(invalid)?;
    let lock = Lock::of(&distribution);
    if options.locked {
        lock::check(&snapshot, &lock).map_err(|e| invalid(vec![e]))?;
    }
    Ok(Loaded {
        snapshot,
        distribution,
        graph,
        lock,
    })
}

/// Loads and renders the distribution.
///
/// # Errors
/// Every problem of every stage.
pub fn render(snapshot: Snapshot, options: &Options) -> Result<Rendered, Invalid> {
    let loaded = load(snapshot, options)?;
    let started = std::time::Instant::now();
    let mut by_name: std::collections::HashMap<String, RenderedRelease> =
        render::render(&loaded.snapshot, &loaded.distribution)
            .map_err(invalid)?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
    let releases: Vec<RenderedRelease> = loaded
        .graph
        .order
        .iter()
        .filter_map(|name| by_name.remove(name))
        .collect();
    tracing::info!(
        releases = releases.len(),
        objects = releases.iter().map(|r| r.objects.len()).sum::<usize>(),
        bytes = releases.iter().map(|r| r.manifest.len()).sum::<usize>(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "rendered"
    );
    Ok(Rendered { loaded, releases })
}

/// Writes `distro.lock` next to the platform file when the snapshot was read
/// from a directory and the lock changed. Commands call this last, after
/// every other output was written.
///
/// # Errors
/// The lock cannot be written.
pub fn write_lock(loaded: &Loaded) -> Result<(), Invalid> {
    let Some(path) = lock::path(&loaded.snapshot) else {
        return Ok(());
    };
    if lock::write(&path, &loaded.lock).map_err(|e| invalid(vec![e]))? {
        tracing::info!(path = %path.display(), "updated lock");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_bounded_and_counts_the_rest() {
        let problems = (0..50)
            .map(|i| {
                Problem::Lock(lock::Error::Read {
                    path: format!("f{i}").into(),
                    message: "x".repeat(40),
                })
            })
            .collect();
        let s = Invalid(problems).summary(300);
        assert!(s.len() < 400, "{}", s.len());
        assert!(s.contains("more"), "{s}");
        assert!(s.starts_with("f0: cannot read"), "{s}");
    }
}
