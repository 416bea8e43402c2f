//! Removing releases that left the platform, dependents before their
//! dependencies, keeping CRDs, objects marked `distro.dev/prune: disabled`,
//! and objects another current release now owns.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::change::ChangeSet;
use super::error::Error;
use super::{Context, ReleaseReport, object};
use crate::render::{ObjectKey, RenderedRelease};
use crate::status::{Reason, ReleaseRecord, Summary};

/// Deletes every release recorded in the cluster that is not in `current`.
///
/// # Errors
/// The releases cannot be listed; failures to delete one object are
/// reported in that release's summary instead.
pub async fn removed_releases(
    ctx: &Context,
    current: &[RenderedRelease],
) -> Result<Vec<ReleaseReport>, Error> {
    let records = ctx.store.list().await?;
    let keep: BTreeSet<(&str, &str)> = current
        .iter()
        .map(|r| (r.namespace.as_str(), r.name.as_str()))
        .collect();
    let mut removed: Vec<ReleaseRecord> = records
        .into_iter()
        .filter(|r| !keep.contains(&(r.namespace.as_str(), r.name.as_str())))
        .collect();
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    // Objects a current release owns now must survive the old release's removal.
    let owned_now: BTreeSet<&ObjectKey> = current
        .iter()
        .flat_map(|r| &r.objects)
        .map(|o| &o.key)
        .collect();

    let mut reports = Vec::new();
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
        let record = removed.remove(next);
        reports.push(remove_one(ctx, &record, &owned_now).await);
    }
    Ok(reports)
}

async fn remove_one(
    ctx: &Context,
    record: &ReleaseRecord,
    owned_now: &BTreeSet<&ObjectKey>,
) -> ReleaseReport {
    let started = SystemTime::now();
    let mut changes = ChangeSet::default();
    let mut failures = Vec::new();
    // Reverse apply order: webhooks and workloads go before RBAC and namespaces.
    for entry in record.inventory.iter().rev() {
        if owned_now.contains(&entry.key()) {
            changes.push(entry.to_string(), super::Action::Skipped);
            continue;
        }
        match object::prune(&ctx.client, &ctx.resolver, entry).await {
            Ok(action) => changes.push(entry.to_string(), action),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let summary = if failures.is_empty() {
        match ctx.store.delete(&record.namespace, &record.name).await {
            Ok(()) => Summary {
                reason: Reason::UpgradeSucceeded,
                message: "removed".into(),
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
