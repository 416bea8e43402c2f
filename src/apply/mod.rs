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
//! - An object annotated `distro.dev/reconcile: disabled` (in its template
//!   or in the cluster) is neither applied nor pruned.

// Errors keep the whole `kube::Error` for its context. They are built once
// per failing object, off the hot path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod change;
mod diff;
mod discovery;
mod error;
mod identity;
mod object;
mod prune;
mod release;
mod schedule;
mod skip;
mod snapshot;
mod wait;

use std::time::{Duration, SystemTime};

pub use change::{Action, Change, ChangeSet};
pub use diff::{DiffReport, ObjectDiff, diff};
pub use discovery::Resolver;
pub use error::Error;
pub use identity::{FIELD_MANAGER, ObjectKey};
pub use object::{FORCE_ANNOTATION, api_from, comparable};
pub use prune::{Keep, PRUNE_ANNOTATION, Verdict, verdict};
pub use schedule::{Event, apply_object, install_crd, run};
pub use skip::{
    Known, Ledger, Lookup, RECONCILE_ANNOTATION, Record, Skip, disabled as reconcile_disabled,
    disabled_value, object_digest,
};
pub use snapshot::{Applied, SnapshotError, apply_snapshot};
pub use wait::assess as readiness;

use serde::Serialize;

use crate::status::{Owner, Store, Summary};

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
    /// The revision of the source applied from (a Git commit), recorded in
    /// every Release applied.
    pub source_revision: Option<String>,
    /// Refuse a snapshot whose `distro.lock` is not current.
    pub locked: bool,
    /// The render budget.
    pub render: crate::render::Options,
    /// What distro last applied, to skip objects nobody changed; `None`
    /// compares every object with a read and a dry run.
    pub skip: Option<Skip>,
    /// Take back, from whoever changed them, the fields of objects distro
    /// applied from the same template (the release's revision is the one
    /// last applied, or the ledger says so): drift correction. Other
    /// conflicts are still reported.
    pub take_back: bool,
    /// Rewrite every image to its copy in a private registry (`apply
    /// --from`); see [`crate::oci::relocate`].
    pub relocation: Option<std::sync::Arc<crate::oci::relocate::Relocation>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            force_conflicts: false,
            wait: true,
            timeout: Duration::from_secs(300),
            concurrency: 4,
            prune: true,
            source_revision: None,
            locked: false,
            render: crate::render::Options::default(),
            skip: None,
            take_back: false,
            relocation: None,
        }
    }
}

/// The identities a run talks to the API server with.
#[derive(Clone)]
pub struct Clients {
    /// Applies, reads and deletes the platform's objects: the controller
    /// impersonates a Platform's `spec.serviceAccountName` here, so a
    /// tenant's Platform can only touch what that ServiceAccount may.
    pub objects: kube::Client,
    /// Writes distro's own records (the Release CRD and objects) as distro.
    pub records: kube::Client,
}

impl From<kube::Client> for Clients {
    fn from(client: kube::Client) -> Self {
        Clients {
            objects: client.clone(),
            records: client,
        }
    }
}

/// What every step of a run shares.
pub struct Context {
    /// The client for the platform's objects (see [`Clients::objects`]).
    pub client: kube::Client,
    /// The client for distro's own records.
    pub records: kube::Client,
    pub resolver: Resolver,
    pub store: Store,
    pub options: Options,
}

impl Context {
    /// A context for the releases of `owner`.
    pub fn new(clients: impl Into<Clients>, owner: Owner, options: Options) -> Self {
        let clients = clients.into();
        let store = Store::new(clients.records.clone(), owner);
        Context::with_store(clients, store, options)
    }

    /// A context around a store made earlier (one that may have listed the
    /// releases already, see [`Store::prepare`]).
    pub fn with_store(clients: Clients, store: Store, options: Options) -> Self {
        Context {
            resolver: Resolver::new(clients.objects.clone()),
            store,
            client: clients.objects,
            records: clients.records,
            options,
        }
    }
}

/// The outcome of one release. Its JSON form is what `distro apply -o
/// json` prints and what the controller's Events and status are made of.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReport {
    pub name: String,
    pub namespace: String,
    /// `<version>@sha256:<12 hex>`.
    pub revision: String,
    #[serde(flatten)]
    pub summary: Summary,
    #[serde(flatten)]
    pub changes: ChangeSet,
    /// When the release started (its dependencies were Ready); `None` when
    /// it never started.
    #[serde(rename = "startedAt", serialize_with = "timestamp_opt")]
    pub started: Option<SystemTime>,
    /// When it ended (Ready or failed).
    #[serde(rename = "finishedAt", serialize_with = "timestamp")]
    pub finished: SystemTime,
}

fn rfc3339(t: SystemTime) -> String {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    // Fixed width, so that timestamps compare as strings.
    k8s_openapi::jiff::Timestamp::from_millisecond(d.as_millis() as i64)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn timestamp<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

fn timestamp_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

impl ReleaseReport {
    /// Whether the release ended Ready.
    pub fn ready(&self) -> bool {
        self.summary.ready()
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, Serialize)]
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
