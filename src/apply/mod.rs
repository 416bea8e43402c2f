//! The apply engine (client required): server-side apply of rendered
//! releases in dependency order, readiness, inventory and prune, and status.
//!
//! # Guarantees
//! - Releases start the moment their last dependency turns Ready; releases
//!   that do not depend on each other run in parallel (bounded).
//! - An object whose server-side dry run equals the live object is not
//!   written, and a release whose status would not change gets no status
//!   write: re-applying an unchanged platform writes nothing.
//! - A failed release marks its dependents `DependencyNotReady` and leaves
//!   them untouched; independent releases still complete.

// Errors keep the whole `kube::Error` for its context. They are built once
// per failing object, off the hot path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod change;
mod diff;
mod discovery;
mod error;
mod object;
mod prune;
mod release;
mod schedule;
mod wait;

use std::time::{Duration, SystemTime};

pub use change::{Action, Change, ChangeSet};
pub use diff::{DiffReport, ObjectDiff, diff};
pub use discovery::Resolver;
pub use error::Error;
pub use object::{FORCE_ANNOTATION, PRUNE_ANNOTATION};
pub use schedule::{Event, run};

use crate::status::{Store, Summary};

/// How to apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// Take ownership of fields another manager owns.
    pub force_conflicts: bool,
    /// Wait for every object to be ready before a release counts as Ready.
    pub wait: bool,
    /// Per-release limit for becoming ready.
    pub timeout: Duration,
    /// Releases applied at the same time.
    pub concurrency: usize,
    /// Remove releases that left the platform.
    pub prune: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            force_conflicts: false,
            wait: true,
            timeout: Duration::from_secs(300),
            concurrency: 4,
            prune: true,
        }
    }
}

/// What every step of a run shares.
pub struct Context {
    pub client: kube::Client,
    pub resolver: Resolver,
    pub store: Store,
    pub options: Options,
}

impl Context {
    /// A context for the releases of `platform`.
    pub fn new(client: kube::Client, platform: &str, options: Options) -> Self {
        Context {
            resolver: Resolver::new(client.clone()),
            store: Store::new(client.clone(), platform),
            client,
            options,
        }
    }
}

/// The outcome of one release.
#[derive(Debug, Clone)]
pub struct ReleaseReport {
    pub name: String,
    pub namespace: String,
    /// `<version>@sha256:<12 hex>`.
    pub revision: String,
    pub summary: Summary,
    pub changes: ChangeSet,
    /// When the release started (its dependencies were Ready); `None` when
    /// it never started.
    pub started: Option<SystemTime>,
    /// When it ended (Ready or failed).
    pub finished: SystemTime,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In apply order.
    pub releases: Vec<ReleaseReport>,
    /// Releases that left the platform and were removed.
    pub removed: Vec<ReleaseReport>,
}

impl Report {
    /// Whether every release ended Ready.
    pub fn all_ready(&self) -> bool {
        self.releases.iter().all(|r| r.summary.ready())
            && self.removed.iter().all(|r| r.summary.ready())
    }
}
