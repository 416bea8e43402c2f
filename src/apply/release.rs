//! Applying one release: stages in the order of [`crate::kinds::Stage`],
//! CRDs Established before anything that may use them, then prune, then
//! wait for readiness, then status.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use futures::{FutureExt, StreamExt};
use kube::api::{Patch, PatchParams};

use super::change::{Action, ChangeSet};
use super::error::Error;
use super::identity::{FIELD_MANAGER, ObjectKey};
use super::object::{self, Desired};
use super::skip;
use super::wait::{self, Pending};
use super::{Context, ReleaseReport, prune};
use crate::kinds::Stage;
use crate::render::{Object, RenderedRelease};
use crate::status::{
    DependencyRef, Error as StoreError, InventoryEntry, Reason, ReleaseRecord, Summary,
};

/// How many objects of one stage are applied at once. Each costs a read and
/// a dry-run request; the API server's own limits (max-requests-inflight,
/// 400 by default) are far above this.
const OBJECT_CONCURRENCY: usize = 16;

/// Applies one release and records the outcome in its `Release` object.
/// `platform_objects` keeps an object that moved to another release from
/// being pruned by the release it left.
pub async fn apply(
    ctx: &Context,
    release: &RenderedRelease,
    depends_on: Vec<DependencyRef>,
    platform_objects: &prune::PlatformObjects<'_>,
) -> ReleaseReport {
    let started = SystemTime::now();
    let revision = ReleaseRecord::revision(&release.version, &release.digest);
    let mut changes = ChangeSet::default();
    let span = tracing::info_span!(
        "release",
        release = %release.name,
        release_namespace = %release.namespace,
        release_revision = %revision,
    );
    let outcome = tracing::Instrument::instrument(
        run(ctx, release, depends_on, platform_objects, &mut changes),
        span,
    )
    .await;
    let summary = match outcome {
        Ok(s) => s,
        Err(s) => s,
    };
    ReleaseReport {
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        revision,
        summary,
        changes,
        started: Some(started),
        finished: SystemTime::now(),
    }
}

fn failed(reason: Reason, e: impl std::fmt::Display) -> Summary {
    Summary {
        reason,
        message: e.to_string(),
    }
}

async fn run(
    ctx: &Context,
    release: &RenderedRelease,
    depends_on: Vec<DependencyRef>,
    platform_objects: &prune::PlatformObjects<'_>,
    changes: &mut ChangeSet,
) -> Result<Summary, Summary> {
    let apply_failed = |e: &dyn std::fmt::Display| failed(Reason::ApplyFailed, e);
    let previous = ctx
        .store
        .get(&release.namespace, &release.name)
        .await
        .map_err(|e| apply_failed(&e))?;

    // The Release object lives in the release's namespace: make sure it
    // exists. A Release found there says it does, at no cost.
    if previous.is_none() {
        ensure_namespace(ctx, &release.namespace)
            .await
            .map_err(|e| apply_failed(&e))?;
    }

    let desired_record = ReleaseRecord {
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        package: release.package.clone(),
        version: release.version.clone(),
        digest: release.digest.clone(),
        depends_on,
        ..Default::default()
    };
    // The store refuses a release of another owner: never a takeover.
    let record = ctx
        .store
        .write_spec(previous.as_ref(), &desired_record)
        .await
        .map_err(|e| match e {
            StoreError::OwnedElsewhere { .. } => failed(Reason::OwnershipConflict, &e),
            other => apply_failed(&other),
        })?;
    let rev = ReleaseRecord::revision(&release.version, &release.digest);
    let revision_changed = previous.as_ref().is_none_or(|p| p.digest != release.digest);
    // Write-ahead inventory: every object about to be applied is recorded
    // before the first apply. A process killed between an apply and the
    // final status write would otherwise leave objects that no inventory
    // lists, and that no later prune would ever find.
    let desired: Vec<InventoryEntry> = release
        .objects
        .iter()
        .map(|o| {
            object::inventory_entry(
                &o.api_version,
                &o.key.kind,
                o.key.namespace.as_deref(),
                &o.key.name,
            )
        })
        .collect();
    let intended = union(&record.inventory, &desired);
    let mut record = record;
    if revision_changed || intended.len() != record.inventory.len() {
        let progressing = Summary {
            reason: Reason::Progressing,
            message: format!("applying revision {rev}"),
        };
        ctx.store
            .write_status(&record, &progressing, Some(&intended), None)
            .await
            .map_err(|e| apply_failed(&e))?;
        record.inventory = intended;
    }

    let mut applied = Vec::new();
    // Objects distro applied from this very template: what someone changed
    // in them since was distro's (see `Options::take_back`).
    let applied_before: BTreeSet<ObjectKey> = match &previous {
        Some(p) if ctx.options.take_back && p.last_applied_revision.as_deref() == Some(&rev) => {
            p.inventory.iter().map(InventoryEntry::key).collect()
        }
        _ => BTreeSet::new(),
    };
    let result = apply_objects(ctx, release, &applied_before, changes, &mut applied).await;
    let pending = match result {
        Ok(pending) => pending,
        Err(e) => {
            // What was applied before the failure joins the inventory, so a
            // later run can still prune it.
            let inventory = union(&record.inventory, &applied);
            let summary = failed(Reason::ApplyFailed, &e);
            if let Err(write) = ctx
                .store
                .write_status(&record, &summary, Some(&inventory), None)
                .await
            {
                tracing::warn!(release = %release.name, "recording the failure failed: {write}");
            }
            return Err(summary);
        }
    };

    // Prune what left the release. The inventory keeps entries that could
    // not be deleted so that a later run tries again.
    let current: BTreeSet<ObjectKey> = applied.iter().map(InventoryEntry::key).collect();
    let mut kept = applied.clone();
    for old in &record.inventory {
        if current.contains(&old.key()) {
            continue;
        }
        match prune::prune_entry(ctx, old, platform_objects).await {
            Ok(action) => {
                tracing::debug!(release = %release.name, object = %old, %action, "pruned");
                changes.push(old.to_string(), action)
            }
            Err(e) => {
                tracing::warn!(release = %release.name, "prune failed: {e}");
                kept.push(old.clone());
            }
        }
    }

    if ctx.options.wait
        && let Err(e) = wait::all_ready(pending, ctx.options.timeout).await
    {
        let summary = failed(Reason::HealthCheckFailed, &e);
        let _ = ctx
            .store
            .write_status(&record, &summary, Some(&kept), None)
            .await;
        return Err(summary);
    }

    // Keep the reason of a release that was already ready at this revision,
    // so a no-op run writes nothing.
    let ready_before = match (&previous, record.ready()) {
        (Some(p), Some(c))
            if p.last_applied_revision.as_deref() == Some(rev.as_str()) && c.reason.ready() =>
        {
            Some(c.reason)
        }
        _ => None,
    };
    let reason = match (ready_before, &previous) {
        (Some(reason), _) => reason,
        (None, Some(p)) if p.last_applied_revision.is_some() => Reason::UpgradeSucceeded,
        _ => Reason::InstallSucceeded,
    };
    let summary = Summary {
        reason,
        message: format!("Applied revision {rev}"),
    };
    // The source revision names the one that last changed the release. A
    // new revision that renders it as it was, finds it Ready and writes
    // none of its objects leaves it alone: at a thousand releases, one
    // changed release must not cost a thousand status writes.
    let untouched = ready_before.is_some()
        && !revision_changed
        && !changes.wrote()
        && previous
            .as_ref()
            .is_some_and(|p| p.source_revision.is_some());
    let source_revision = if untouched {
        None
    } else {
        ctx.options.source_revision.as_deref()
    };
    ctx.store
        .write_status(&record, &summary, Some(&kept), source_revision)
        .await
        .map_err(|e| apply_failed(&e))?;
    Ok(summary)
}

/// `base` plus the entries of `more` it lacks, in order.
fn union(base: &[InventoryEntry], more: &[InventoryEntry]) -> Vec<InventoryEntry> {
    let mut out = base.to_vec();
    for e in more {
        if !out.iter().any(|b| b.same_object(e)) {
            out.push(e.clone());
        }
    }
    out
}

/// Applies every object, stage by stage, adding each applied object to
/// `inventory` as it goes (so that a failure leaves what was applied there).
/// Returns the objects to wait for.
async fn apply_objects(
    ctx: &Context,
    release: &RenderedRelease,
    applied_before: &BTreeSet<ObjectKey>,
    changes: &mut ChangeSet,
    inventory: &mut Vec<InventoryEntry>,
) -> Result<Vec<Pending>, Error> {
    let mut pending = Vec::new();
    for stage in Stage::ALL {
        let targets: Vec<&Object> = release
            .objects
            .iter()
            .filter(|o| o.rank().0 == stage)
            .collect();
        if targets.is_empty() {
            continue;
        }
        let results = apply_batch(ctx, release, applied_before, &targets).await;
        let mut crds = Vec::new();
        let mut first_error = None;
        for result in results {
            let done = match result {
                Ok(ok) => ok,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            tracing::debug!(release = %release.name, object = %done.display, action = %done.action, "applied");
            changes.push(done.display, done.action);
            inventory.push(done.entry);
            match done.pending {
                Some(p) if done.is_crd => crds.push(p),
                Some(p) => pending.push(p),
                // Left alone: nothing to wait for.
                None => {}
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Custom resources of a CRD can only be applied once it is
        // Established; wait here, whatever `--wait` says.
        if !crds.is_empty() {
            wait::all_ready(crds, ctx.options.timeout).await?;
        }
    }
    Ok(pending)
}

/// What applying one object gives.
struct AppliedObject {
    action: Action,
    display: String,
    /// What to wait for; `None` for an object left alone.
    pending: Option<Pending>,
    entry: InventoryEntry,
    is_crd: bool,
}

/// Applies `targets` with at most [`OBJECT_CONCURRENCY`] requests in
/// flight, results in input order. Written as a loop over boxed futures, not
/// a stream of closures: that keeps the future `Send` for the controller's
/// spawned tasks.
async fn apply_batch(
    ctx: &Context,
    release: &RenderedRelease,
    applied_before: &BTreeSet<ObjectKey>,
    targets: &[&Object],
) -> Vec<Result<AppliedObject, Error>> {
    let mut in_flight = futures::stream::FuturesOrdered::new();
    let mut results = Vec::with_capacity(targets.len());
    let mut next = targets.iter();
    loop {
        while in_flight.len() < OBJECT_CONCURRENCY {
            let Some(o) = next.next() else { break };
            in_flight.push_back(apply_one(ctx, release, applied_before, o).boxed());
        }
        match in_flight.next().await {
            Some(r) => results.push(r),
            None => break,
        }
    }
    results
}

/// Applies one rendered object. The object is parsed only when it has to
/// be sent: one the ledger vouches for needs its digest and nothing else,
/// and at thousands of objects the parse would be most of a no-op run.
async fn apply_one(
    ctx: &Context,
    release: &RenderedRelease,
    applied_before: &BTreeSet<ObjectKey>,
    o: &Object,
) -> Result<AppliedObject, Error> {
    let is_crd = o.key.kind == "CustomResourceDefinition";
    let display = o.key.to_string();
    let entry = object::inventory_entry(
        &o.api_version,
        &o.key.kind,
        o.key.namespace.as_deref(),
        &o.key.name,
    );
    let left_alone = |action, display, entry| AppliedObject {
        action,
        display,
        pending: None,
        // Kept in the inventory, so that it is not pruned either.
        entry,
        is_crd,
    };
    if o.disabled() {
        return Ok(left_alone(Action::Skipped, display, entry));
    }
    let digest = skip::object_digest(o.yaml());
    let ledger = ctx.options.skip.as_ref().map(|s| &s.0);
    let lookup = ledger.map_or(skip::Lookup::Unknown, |l| l.lookup(&o.key, &digest));
    let release_key = (release.namespace.as_str(), release.name.as_str());
    let (action, live, api, current) = match lookup {
        skip::Lookup::Unchanged(known) if skip::disabled(&known.live) => {
            return Ok(left_alone(Action::Skipped, display, entry));
        }
        // Nobody changed it since distro applied this very template: no
        // read, no dry run.
        skip::Lookup::Unchanged(known) => {
            let api = object::api_from(
                &ctx.client,
                &known.resource,
                known.namespaced,
                o.key.namespace.as_deref(),
            );
            if let Some(ledger) = ledger {
                ledger.keep(release_key, &o.key);
            }
            (Action::Unchanged, known.live, api, known.current)
        }
        lookup => {
            let d = Desired::from_rendered(o)?;
            // Someone changed what distro applied from this very template:
            // take back its fields, as drift correction does.
            let drifted =
                matches!(lookup, skip::Lookup::Drifted) || applied_before.contains(&o.key);
            let force = ctx.options.force_conflicts || drifted;
            let applied = object::apply(&ctx.client, &ctx.resolver, &d, force).await?;
            if applied.action == Action::Skipped {
                return Ok(left_alone(Action::Skipped, display, entry));
            }
            if let Some(ledger) = ledger {
                ledger.record(skip::Record {
                    release: release_key,
                    key: &o.key,
                    desired: &d.value,
                    digest: &d.digest,
                    live: &applied.live,
                    resource: &applied.resolved.resource,
                    namespaced: applied.resolved.namespaced,
                });
            }
            (applied.action, Arc::new(applied.live), applied.api, false)
        }
    };
    Ok(AppliedObject {
        action,
        pending: Some(Pending {
            api,
            name: o.key.name.clone(),
            display: display.clone(),
            last: live,
            types: kube::api::TypeMeta {
                api_version: o.api_version.clone(),
                kind: o.key.kind.clone(),
            },
            current,
        }),
        display,
        entry,
        is_crd,
    })
}

/// Creates the namespace when it does not exist. An existing namespace is
/// left alone (and costs no write).
async fn ensure_namespace(ctx: &Context, namespace: &str) -> Result<(), Error> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(ctx.client.clone());
    let display = format!("Namespace/{namespace}");
    let found = match api.get_opt(namespace).await {
        Ok(found) => found,
        // An identity limited to namespaces of its own may not read
        // Namespace objects: go on, and let the apply say what is missing.
        Err(e) if matches!(super::error::api_status(&e), Some((403, _))) => return Ok(()),
        Err(source) => {
            return Err(Error::Api {
                object: display,
                action: "get",
                source,
            });
        }
    };
    if found.is_some() {
        return Ok(());
    }
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace},
    });
    api.patch(
        namespace,
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|source| Error::Api {
        object: display,
        action: "create",
        source,
    })?;
    Ok(())
}
