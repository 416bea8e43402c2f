//! Prune: what happens to an object that left its release, and removing
//! releases that left the platform (dependents before their dependencies).
//!
//! [`verdict`] is the one prune decision; apply, release removal and diff
//! all go through it, so `distro diff` never announces a deletion that
//! `distro apply` would not make.

use std::collections::{BTreeSet, HashSet};
use std::time::SystemTime;

use kube::api::DynamicObject;

use super::change::{Action, ChangeSet};
use super::error::Error;
use super::identity::ObjectKey;
use super::{Context, ReleaseReport, object};
use crate::render::RenderedRelease;
use crate::status::{InventoryEntry, Reason, ReleaseRecord, Summary};

/// Annotation that keeps an object when it leaves its release.
pub const PRUNE_ANNOTATION: &str = "distro.dev/prune";

/// Why an object that left its release stays in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// CustomResourceDefinitions are never deleted: that would delete every
    /// custom resource of the kind, in every namespace.
    Crd,
    /// The live object says `distro.dev/prune: disabled` or
    /// `distro.dev/reconcile: disabled`.
    Annotated,
    /// Another release of the platform renders it now: it moved.
    Moved,
    /// It is gone already.
    Gone,
}

/// The prune decision for one object that left its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delete,
    Keep(Keep),
}

/// Decides what happens to `entry`, which left its release. `live` is the
/// object as the cluster has it (`None` when gone); `platform` holds every
/// object the platform renders now.
pub fn verdict(
    entry: &InventoryEntry,
    live: Option<&DynamicObject>,
    platform: &PlatformObjects<'_>,
) -> Verdict {
    if entry.group == "apiextensions.k8s.io" && entry.kind == "CustomResourceDefinition" {
        return Verdict::Keep(Keep::Crd);
    }
    if platform.contains(&entry.key()) {
        return Verdict::Keep(Keep::Moved);
    }
    let Some(live) = live else {
        return Verdict::Keep(Keep::Gone);
    };
    let annotated = live
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PRUNE_ANNOTATION))
        .is_some_and(|v| v == "disabled");
    if annotated || super::skip::disabled(live) {
        Verdict::Keep(Keep::Annotated)
    } else {
        Verdict::Delete
    }
}

/// Reads the live object of `entry` (unless the verdict needs none) and
/// decides.
///
/// # Errors
/// The API server fails.
pub async fn decide(
    ctx: &Context,
    entry: &InventoryEntry,
    platform: &PlatformObjects<'_>,
) -> Result<(Verdict, Option<kube::Api<DynamicObject>>), Error> {
    // Decisions that need no live object cost no request.
    match verdict(entry, None, platform) {
        Verdict::Keep(Keep::Gone) => {}
        other => return Ok((other, None)),
    }
    match object::find_entry(&ctx.client, &ctx.resolver, entry).await? {
        None => Ok((Verdict::Keep(Keep::Gone), None)),
        Some((api, live)) => Ok((verdict(entry, Some(&live), platform), Some(api))),
    }
}

/// Prunes one object that left its release: decides, then deletes.
///
/// # Errors
/// The API server fails.
pub async fn prune_entry(
    ctx: &Context,
    entry: &InventoryEntry,
    platform: &PlatformObjects<'_>,
) -> Result<Action, Error> {
    match decide(ctx, entry, platform).await? {
        (Verdict::Delete, Some(api)) => {
            object::delete(&api, entry).await?;
            Ok(Action::Deleted)
        }
        (Verdict::Keep(Keep::Gone), _) => Ok(Action::Deleted),
        _ => Ok(Action::Skipped),
    }
}

/// Identity of every object the platform renders, across all releases: an
/// object that moved to another release is not pruned by the one it left.
/// A hash set: it is built once per run from every object and only asked
/// whether it holds one.
pub type PlatformObjects<'a> = HashSet<&'a ObjectKey>;

/// Every object the platform renders now.
pub fn platform_objects(current: &[RenderedRelease]) -> PlatformObjects<'_> {
    current
        .iter()
        .flat_map(|r| &r.objects)
        .map(|o| &o.key)
        .collect()
}

/// The recorded releases of this platform that are not in `current`, in
/// the order they are removed: dependents before their dependencies.
///
/// # Errors
/// The releases cannot be listed.
pub async fn removed_records(
    ctx: &Context,
    current: &[RenderedRelease],
) -> Result<Vec<ReleaseRecord>, Error> {
    let records = ctx.store.list().await?;
    let keep: BTreeSet<(&str, &str)> = current
        .iter()
        .map(|r| (r.namespace.as_str(), r.name.as_str()))
        .collect();
    let mut removed: Vec<ReleaseRecord> = records
        .into_iter()
        .filter(|r| !keep.contains(&(r.namespace.as_str(), r.name.as_str())))
        .collect();
    let mut ordered = Vec::with_capacity(removed.len());
    while !removed.is_empty() {
        // A release goes once no other release being removed depends on it.
        let next = removed
            .iter()
            .position(|candidate| {
                !removed.iter().any(|other| {
                    other
                        .depends_on
                        .iter()
                        .any(|d| d.name == candidate.name && d.namespace == candidate.namespace)
                })
            })
            .unwrap_or(0);
        ordered.push(removed.remove(next));
    }
    Ok(ordered)
}

/// Deletes every release recorded in the cluster that is not in `current`.
///
/// # Errors
/// The releases cannot be listed; failures to delete one object are
/// reported in that release's summary instead.
pub async fn removed_releases(
    ctx: &Context,
    current: &[RenderedRelease],
    platform: &PlatformObjects<'_>,
) -> Result<Vec<ReleaseReport>, Error> {
    let mut reports = Vec::new();
    for record in removed_records(ctx, current).await? {
        reports.push(remove_one(ctx, &record, platform).await);
    }
    Ok(reports)
}

async fn remove_one(
    ctx: &Context,
    record: &ReleaseRecord,
    platform: &PlatformObjects<'_>,
) -> ReleaseReport {
    let started = SystemTime::now();
    let mut changes = ChangeSet::default();
    let mut failures = Vec::new();
    // Reverse apply order: webhooks and workloads go before RBAC and namespaces.
    for entry in record.inventory.iter().rev() {
        match prune_entry(ctx, entry, platform).await {
            Ok(action) => changes.push(entry.to_string(), action),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let summary = if failures.is_empty() {
        match ctx.store.delete(&record.namespace, &record.name).await {
            Ok(()) => Summary {
                reason: Reason::UninstallSucceeded,
                message: "removed from the platform".into(),
            },
            Err(e) => Summary {
                reason: Reason::ApplyFailed,
                message: e.to_string(),
            },
        }
    } else {
        Summary {
            reason: Reason::ApplyFailed,
            message: failures.join("; "),
        }
    };
    ReleaseReport {
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        revision: record.last_applied_revision.clone().unwrap_or_default(),
        summary,
        changes,
        started: Some(started),
        finished: SystemTime::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, kind: &str, name: &str) -> InventoryEntry {
        InventoryEntry {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    fn live(annotations: &[(&str, &str)]) -> DynamicObject {
        let mut obj = DynamicObject::new(
            "x",
            &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        );
        obj.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        obj
    }

    #[test]
    fn crds_annotated_and_moved_objects_are_kept() {
        let none = PlatformObjects::new();
        let crd = entry("apiextensions.k8s.io", "CustomResourceDefinition", "a.b");
        assert_eq!(
            verdict(&crd, Some(&live(&[])), &none),
            Verdict::Keep(Keep::Crd)
        );
        let cm = entry("", "ConfigMap", "c");
        assert_eq!(
            verdict(&cm, Some(&live(&[(PRUNE_ANNOTATION, "disabled")])), &none),
            Verdict::Keep(Keep::Annotated)
        );
        assert_eq!(
            verdict(
                &cm,
                Some(&live(&[(super::super::RECONCILE_ANNOTATION, "disabled")])),
                &none
            ),
            Verdict::Keep(Keep::Annotated)
        );
        assert_eq!(verdict(&cm, Some(&live(&[])), &none), Verdict::Delete);
        assert_eq!(verdict(&cm, None, &none), Verdict::Keep(Keep::Gone));
        let key = cm.key();
        let moved: PlatformObjects = [&key].into_iter().collect();
        assert_eq!(
            verdict(&cm, Some(&live(&[])), &moved),
            Verdict::Keep(Keep::Moved)
        );
    }
}
