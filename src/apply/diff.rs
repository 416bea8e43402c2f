//! `diff`: what an apply would change, from a server-side dry run of every
//! object against the live one. Nothing is written.

use std::collections::BTreeSet;

use kube::api::Patch;
use serde::Serialize;
use serde_json::Value;

use super::Context;
use super::change::Action;
use super::error::Error;
use super::object::{self, Desired};
use super::prune::{self, Verdict};
use crate::render::RenderedRelease;
use crate::status::InventoryEntry;

/// One object that would change.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDiff {
    pub release: String,
    pub object: String,
    /// `created`, `configured` or `deleted`.
    pub action: Action,
    /// A unified diff, live -> desired, Secret values masked.
    pub diff: String,
}

/// Everything a run would change.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffReport {
    pub objects: Vec<ObjectDiff>,
}

impl DiffReport {
    pub fn has_changes(&self) -> bool {
        !self.objects.is_empty()
    }
}

/// Compares every object with the cluster. Objects to prune are the ones
/// apply would delete: the same [`prune::decide`] decides for both.
///
/// # Errors
/// An object the API server rejects in the dry run, or an API failure.
pub async fn diff(ctx: &Context, releases: &[RenderedRelease]) -> Result<DiffReport, Error> {
    let mut report = DiffReport::default();
    let platform = prune::platform_objects(releases);
    for release in releases {
        let mut entries = BTreeSet::new();
        for rendered in &release.objects {
            let desired = Desired::from_rendered(rendered)?;
            entries.insert(desired.inventory_entry().key());
            // Left alone by apply: nothing to show.
            if desired.disabled() {
                continue;
            }
            if let Some(d) = diff_one(ctx, &release.name, &desired).await? {
                report.objects.push(d);
            }
        }
        if let Some(record) = ctx.store.get(&release.namespace, &release.name).await? {
            for old in record
                .inventory
                .iter()
                .filter(|e| !entries.contains(&e.key()))
            {
                if prune::decide(ctx, old, &platform).await?.0 == Verdict::Delete {
                    report.objects.push(deleted(&release.name, old));
                }
            }
        }
    }
    for record in prune::removed_records(ctx, releases).await? {
        for old in record.inventory.iter().rev() {
            if prune::decide(ctx, old, &platform).await?.0 == Verdict::Delete {
                report.objects.push(deleted(&record.name, old));
            }
        }
    }
    Ok(report)
}

fn deleted(release: &str, entry: &InventoryEntry) -> ObjectDiff {
    ObjectDiff {
        release: release.to_string(),
        object: entry.to_string(),
        action: Action::Deleted,
        diff: format!("--- {entry}\n+++ /dev/null\n(object would be deleted)\n"),
    }
}

async fn diff_one(
    ctx: &Context,
    release: &str,
    desired: &Desired,
) -> Result<Option<ObjectDiff>, Error> {
    let created = |after: &Value| ObjectDiff {
        release: release.to_string(),
        object: desired.display.clone(),
        action: Action::Created,
        diff: unified(&desired.display, None, Some(after)),
    };
    let (api, _) = match object::api_for(
        &ctx.client,
        &ctx.resolver,
        &desired.api_version,
        &desired.kind,
        desired.namespace.as_deref(),
        &desired.display,
        std::time::Duration::ZERO,
    )
    .await
    {
        Ok(found) => found,
        // Its CRD is part of this apply and not installed yet.
        Err(Error::UnknownKind { .. }) => return Ok(Some(created(&desired.value))),
        Err(e) => return Err(e),
    };
    let live = object::live(&api, desired).await?;
    if live.as_ref().is_some_and(super::skip::disabled) {
        return Ok(None);
    }
    let params = object::params(ctx.options.force_conflicts).dry_run();
    let dry = api
        .patch(&desired.name, &params, &Patch::Apply(&desired.value))
        .await;
    let dry = match (dry, &live) {
        (Ok(d), _) => d,
        // The namespace does not exist yet: it is created by this apply.
        (Err(e), None) if matches!(super::error::api_status(&e), Some((404, _))) => {
            return Ok(Some(created(&desired.value)));
        }
        (Err(e), _) => {
            let message = super::error::api_status(&e)
                .map(|(_, m)| m.to_string())
                .unwrap_or_else(|| e.to_string());
            return Err(Error::Rejected {
                object: desired.display.clone(),
                message,
            });
        }
    };
    let after = object::comparable(&dry);
    match live {
        None => Ok(Some(created(&after))),
        Some(live) => {
            let before = object::comparable(&live);
            if before == after {
                return Ok(None);
            }
            Ok(Some(ObjectDiff {
                release: release.to_string(),
                object: desired.display.clone(),
                action: Action::Configured,
                diff: unified(&desired.display, Some(&before), Some(&after)),
            }))
        }
    }
}

/// Replaces Secret values so a diff never shows them; a changed value is
/// marked as changed without showing either side.
fn mask(before: Option<&Value>, after: Option<&Value>) -> (Option<Value>, Option<Value>) {
    let is_secret =
        |v: Option<&Value>| v.and_then(|v| v.get("kind")).and_then(Value::as_str) == Some("Secret");
    if !is_secret(before) && !is_secret(after) {
        return (before.cloned(), after.cloned());
    }
    let mut b = before.cloned();
    let mut a = after.cloned();
    for field in ["data", "stringData"] {
        let old = b.as_ref().and_then(|v| v.get(field)).cloned();
        let new = a.as_ref().and_then(|v| v.get(field)).cloned();
        let mark = |target: &mut Option<Value>,
                    mine: &Option<Value>,
                    other: &Option<Value>,
                    label: &str| {
            if let Some(Value::Object(map)) = target.as_mut().and_then(|v| v.get_mut(field)) {
                for (k, val) in map.iter_mut() {
                    let same = other.as_ref().and_then(|o| o.get(k))
                        == mine.as_ref().and_then(|m| m.get(k));
                    *val = Value::String(if same {
                        "***".into()
                    } else {
                        format!("*** ({label})")
                    });
                }
            }
        };
        mark(&mut b, &old, &new, "before");
        mark(&mut a, &new, &old, "after");
    }
    (b, a)
}

fn unified(name: &str, before: Option<&Value>, after: Option<&Value>) -> String {
    let (before, after) = mask(before, after);
    let text = |v: &Option<Value>| v.as_ref().map(crate::yaml::to_string).unwrap_or_default();
    let (old, new) = (text(&before), text(&after));
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(
            &if before.is_some() {
                format!("live/{name}")
            } else {
                "/dev/null".into()
            },
            &format!("desired/{name}"),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_never_show() {
        let before = json!({"kind": "Secret", "data": {"a": "czE=", "b": "czI="}});
        let after = json!({"kind": "Secret", "data": {"a": "czE=", "b": "czM="}});
        let d = unified("Secret/ns/s", Some(&before), Some(&after));
        assert!(
            !d.contains("czE=") && !d.contains("czI=") && !d.contains("czM="),
            "{d}"
        );
        assert!(
            d.contains("*** (before)") && d.contains("*** (after)"),
            "{d}"
        );
        assert!(
            d.contains("a: '***'") || d.contains("a: \"***\"") || d.contains("a: ***"),
            "{d}"
        );
    }

    #[test]
    fn plain_objects_diff_by_line() {
        let before = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        let after = json!({"kind": "ConfigMap", "data": {"a": "2"}});
        let d = unified("ConfigMap/ns/c", Some(&before), Some(&after));
        assert!(d.contains("-  a: '1'") && d.contains("+  a: '2'"), "{d}");
    }
}
