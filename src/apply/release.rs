//! Applying one release: stages in the order of [`crate::kinds::Stage`],
//! CRDs Established before anything that may use them, then prune, then
//! wait for readiness, then status.

use std::collections::BTreeSet;
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams};

use super::change::{Action, ChangeSet};
use super::error::Error;
use super::object::{self, Desired};
use super::wait::{self, Pending};
use super::{Context, ReleaseReport};
use crate::kinds::Stage;
use crate::render::{MANAGER, ObjectKey, RenderedRelease};
use crate::status::{DependencyRef, InventoryEntry, Reason, ReleaseRecord, Summary};

/// How many objects of one stage are applied at once.
const OBJECT_CONCURRENCY: usize = 8;

/// Identity of every object the platform renders, across all releases.
pub type PlatformObjects<'a> = BTreeSet<&'a ObjectKey>;

/// Applies one release and records the outcome in its `Release` object.
/// `platform_objects` keeps an object that moved to another release from
/// being pruned by the release it left.
pub async fn apply(
    ctx: &Context,
    release: &RenderedRelease,
    depends_on: Vec<DependencyRef>,
    platform_objects: &PlatformObjects<'_>,
) -> ReleaseReport {
    let started = SystemTime::now();
    let revision = ReleaseRecord::revision(&release.version, &release.digest);
    let mut changes = ChangeSet::default();
    let outcome = run(ctx, release, depends_on, platform_objects, &mut changes).await;
    let summary = match &outcome {
        Ok(s) => s.clone(),
        Err((reason, e)) => Summary {
            reason: *reason,
            message: e.to_string(),
        },
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

type Failure = (Reason, Error);

async fn run(
    ctx: &Context,
    release: &RenderedRelease,
    depends_on: Vec<DependencyRef>,
    platform_objects: &PlatformObjects<'_>,
    changes: &mut ChangeSet,
) -> Result<Summary, Failure> {
    let apply_failed = |e: Error| (Reason::ApplyFailed, e);
    let previous = ctx
        .store
        .get(&release.namespace, &release.name)
        .await
        .map_err(|e| apply_failed(e.into()))?;

    // The Release object lives in the release's namespace: make sure it exists.
    ensure_namespace(ctx, &release.namespace)
        .await
        .map_err(apply_failed)?;

    let desired_record = ReleaseRecord {
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        package: release.package.clone(),
        version: release.version.clone(),
        digest: release.digest.clone(),
        depends_on,
        ..Default::default()
    };
    let record = ctx
        .store
        .write_spec(previous.as_ref(), &desired_record)
        .await
        .map_err(|e| apply_failed(e.into()))?;
    let revision_changed = previous.as_ref().is_none_or(|p| p.digest != release.digest);
    if revision_changed {
        let progressing = Summary {
            reason: Reason::Progressing,
            message: format!(
                "applying revision {}",
                ReleaseRecord::revision(&release.version, &release.digest)
            ),
        };
        ctx.store
            .write_status(&record, &progressing, None)
            .await
            .map_err(|e| apply_failed(e.into()))?;
    }

    let result = apply_objects(ctx, release, changes).await;
    let (inventory, pending) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let summary = Summary {
                reason: Reason::ApplyFailed,
                message: e.to_string(),
            };
            let _ = ctx.store.write_status(&record, &summary, None).await;
            return Err((Reason::ApplyFailed, e));
        }
    };

    // Prune what left the release, unless another release of the platform
    // renders it now (it moved). Inventory keeps entries that could not be
    // deleted so that a later run tries again.
    let current: BTreeSet<ObjectKey> = inventory.iter().map(InventoryEntry::key).collect();
    let mut kept = inventory.clone();
    for old in &record.inventory {
        let key = old.key();
        if current.contains(&key) || platform_objects.contains(&key) {
            continue;
        }
        match object::prune(&ctx.client, &ctx.resolver, old).await {
            Ok(action) => changes.push(old.to_string(), action),
            Err(e) => {
                tracing::warn!(release = %release.name, "prune failed: {e}");
                kept.push(old.clone());
            }
        }
    }

    if ctx.options.wait
        && let Err(e) = wait::all_ready(pending, ctx.options.timeout).await
    {
        let summary = Summary {
            reason: Reason::HealthCheckFailed,
            message: e.to_string(),
        };
        let _ = ctx.store.write_status(&record, &summary, Some(&kept)).await;
        return Err((Reason::HealthCheckFailed, e));
    }

    let rev = ReleaseRecord::revision(&release.version, &release.digest);
    // Keep the reason of a release that was already ready at this revision,
    // so a no-op run writes nothing.
    let reason = match (&previous, record.ready()) {
        (Some(p), Some(c))
            if p.last_applied_revision.as_deref() == Some(rev.as_str())
                && c.reason != "Progressing" =>
        {
            if c.reason == "InstallSucceeded" {
                Reason::InstallSucceeded
            } else {
                Reason::UpgradeSucceeded
            }
        }
        (Some(p), _) if p.last_applied_revision.is_some() => Reason::UpgradeSucceeded,
        _ => Reason::InstallSucceeded,
    };
    let summary = Summary {
        reason,
        message: format!("Applied revision {rev}"),
    };
    ctx.store
        .write_status(&record, &summary, Some(&kept))
        .await
        .map_err(|e| apply_failed(e.into()))?;
    Ok(summary)
}

/// Applies every object, stage by stage. Returns the inventory and the
/// objects to wait for.
async fn apply_objects(
    ctx: &Context,
    release: &RenderedRelease,
    changes: &mut ChangeSet,
) -> Result<(Vec<InventoryEntry>, Vec<Pending>), Error> {
    let desired: Vec<Desired> = release
        .objects
        .iter()
        .map(Desired::from_rendered)
        .collect::<Result<_, _>>()?;
    let stages = [
        Stage::Foundation,
        Stage::Class,
        Stage::Workload,
        Stage::Webhook,
    ];
    let mut inventory = Vec::new();
    let mut pending = Vec::new();
    for stage in stages {
        let batch: Vec<(&Desired, &crate::render::Object)> = desired
            .iter()
            .zip(&release.objects)
            .filter(|(_, o)| o.rank().0 == stage)
            .collect();
        if batch.is_empty() {
            continue;
        }
        let results: Vec<(Action, Pending, InventoryEntry, bool)> = futures::stream::iter(batch)
            .map(|(d, _)| async move {
                let applied =
                    object::apply(&ctx.client, &ctx.resolver, d, ctx.options.force_conflicts)
                        .await?;
                let is_crd = d.kind == "CustomResourceDefinition";
                Ok::<_, Error>((
                    applied.action,
                    Pending {
                        api: applied.api,
                        name: d.name.clone(),
                        display: d.display.clone(),
                        last: applied.live,
                        types: kube::api::TypeMeta {
                            api_version: d.api_version.clone(),
                            kind: d.kind.clone(),
                        },
                    },
                    d.inventory_entry(),
                    is_crd,
                ))
            })
            .buffered(OBJECT_CONCURRENCY)
            .try_collect()
            .await?;
        let mut crds = Vec::new();
        for (action, p, entry, is_crd) in results {
            changes.push(p.display.clone(), action);
            inventory.push(entry);
            if is_crd {
                crds.push(p);
            } else {
                pending.push(p);
            }
        }
        // Custom resources of a CRD can only be applied once it is
        // Established; wait here, whatever `--wait` says.
        if !crds.is_empty() {
            wait::all_ready(crds, ctx.options.timeout).await?;
        }
    }
    Ok((inventory, pending))
}

/// Creates the namespace when it does not exist. An existing namespace is
/// left alone (and costs no write).
async fn ensure_namespace(ctx: &Context, namespace: &str) -> Result<(), Error> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(ctx.client.clone());
    let display = format!("Namespace/{namespace}");
    let found = api.get_opt(namespace).await.map_err(|source| Error::Api {
        object: display.clone(),
        action: "get",
        source,
    })?;
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
        &PatchParams::apply(MANAGER),
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
