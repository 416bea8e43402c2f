//! The pipeline from files to rendered releases, in one place, so that every
//! front end (command line, controller) runs exactly the same checks.
//!
//! # Guarantees
//! Nothing is written (not even the lock) unless every stage succeeded.

use std::path::PathBuf;

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

fn invalid<E: Into<Problem>>(errors: Vec<E>) -> Invalid {
    Invalid(errors.into_iter().map(Into::into).collect())
}

/// How to run the pipeline.
#[derive(Debug, Clone)]
pub struct Options {
    /// The platform file; its directory is the distribution root.
    pub platform: PathBuf,
    /// Fail when `distro.lock` does not match instead of rewriting it.
    pub locked: bool,
}

/// A loaded distribution and its graph, before rendering.
pub struct Loaded {
    pub snapshot: Snapshot,
    pub distribution: Distribution,
    pub graph: Graph,
    pub lock: Lock,
}

/// A rendered distribution.
pub struct Rendered {
    pub loaded: Loaded,
    /// Releases in apply order (the graph's topological order).
    pub releases: Vec<RenderedRelease>,
}

/// Reads, validates and resolves the distribution and builds its DAG.
///
/// # Errors
/// Every input problem found up to the graph; with `locked`, a stale lock.
pub fn load(options: &Options) -> Result<Loaded, Invalid> {
    let snapshot = Snapshot::from_dir(&options.platform).map_err(|e| invalid(vec![e]))?;
    let distribution = model::load(&snapshot).map_err(invalid)?;
    let graph = graph::build(&distribution.releases).map_err(invalid)?;
    let lock = Lock::of(&distribution);
    if options.locked {
        lock::check(&lock::path(snapshot.root()), &lock).map_err(|e| invalid(vec![e]))?;
    }
    Ok(Loaded {
        snapshot,
        distribution,
        graph,
        lock,
    })
}

/// Loads and renders the distribution, then updates `distro.lock` (unless
/// `locked`, where it must already match).
///
/// # Errors
/// Every problem of every stage; nothing is written then.
pub fn render(options: &Options) -> Result<Rendered, Invalid> {
    let loaded = load(options)?;
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
    if !options.locked {
        let path = lock::path(loaded.snapshot.root());
        if lock::write(&path, &loaded.lock).map_err(|e| invalid(vec![e]))? {
            tracing::info!(path = %path.display(), "updated lock");
        }
    }
    Ok(Rendered { loaded, releases })
}
