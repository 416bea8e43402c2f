//! The one call every front end makes: a [`Snapshot`] in, a [`Report`] out.
//! `distro apply` and the controller both go through it, so they validate,
//! render and apply in exactly the same way.

use tokio::sync::mpsc;

use super::{Context, Error, Event, Options, Report, run};
use crate::pipeline::{self, Invalid, Rendered};
use crate::source::Snapshot;
use crate::status::{Owner, Store};

/// Why a snapshot was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The distribution does not validate: nothing was applied.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The run could not start (the cluster refused the Release CRD, or is
    /// unreachable). Failures of single releases are in the report instead.
    #[error(transparent)]
    Apply(#[from] Error),
    /// Rendering panicked or was cancelled.
    #[error("rendering stopped: {0}")]
    Render(String),
}

/// A snapshot after a run: what was rendered, and what happened.
pub struct Applied {
    pub rendered: Rendered,
    pub report: Report,
}

/// Validates and renders `snapshot`, then applies it in dependency order.
/// `store` holds the records of whose releases these are; `None` means a
/// store for the platform file's `name`, as `distro apply` does. A store
/// given is prepared (see [`Store::prepare`]) while the snapshot renders,
/// if the caller did not do it already.
///
/// # Guarantees
/// Nothing is written to the cluster unless the whole snapshot validates
/// (preparing the store writes only distro's own CRD, never a release).
///
/// # Errors
/// [`SnapshotError::Invalid`] lists every problem of the distribution.
pub async fn apply_snapshot(
    clients: impl Into<super::Clients>,
    snapshot: Snapshot,
    store: Option<Store>,
    mut options: Options,
    events: Option<mpsc::UnboundedSender<Event>>,
) -> Result<Applied, SnapshotError> {
    // Rendering is CPU work (parallel inside): keep it off the async workers.
    let pipeline_options = pipeline::Options {
        locked: options.locked,
        relocation: options.relocation.clone(),
        ..pipeline::Options::default()
    };
    let render_options = options.render.clone();
    let clients = clients.into();
    let render = tokio::task::spawn_blocking(move || {
        pipeline::render_with(snapshot, &pipeline_options, &render_options)
    });
    let rendered = match &store {
        // The Release list (a read, hundreds of milliseconds at a thousand
        // releases) runs while the snapshot renders instead of after it. A
        // failure here is the run's to report: it prepares again.
        Some(store) => {
            let (rendered, _) = tokio::join!(render, store.prepare(options.timeout));
            rendered
        }
        None => render.await,
    };
    let rendered = rendered.map_err(|e| SnapshotError::Render(e.to_string()))??;
    if options.source_revision.is_none() {
        options.source_revision = rendered.loaded.snapshot.revision().map(str::to_string);
    }
    let store = store.unwrap_or_else(|| {
        Store::new(
            clients.records.clone(),
            Owner {
                platform: rendered.loaded.distribution.platform.name.clone(),
                namespace: None,
            },
        )
    });
    let ctx = Context::with_store(clients, store, options);
    let report = run(&ctx, &rendered.releases, &rendered.loaded.graph, events).await?;
    Ok(Applied { rendered, report })
}
