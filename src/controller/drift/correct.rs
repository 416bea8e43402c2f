//! Setting back one drifted object (client required): a server-side dry
//! run names the fields that moved, then the object alone is applied again
//! as distro, taking back the fields its template sets.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};

use super::fields::{changed_paths, content, other_managers, view};
use super::{Inner, Managed};
use crate::apply::{self, FIELD_MANAGER, ObjectKey};

/// Fields named in one Event at most.
const FIELDS_SHOWN: usize = 10;

/// What a correction did.
enum Corrected {
    /// The object was gone and was created again.
    Recreated,
    /// These fields were set back; `managers` last wrote the object.
    Restored {
        fields: Vec<String>,
        managers: Vec<String>,
    },
}

/// Checks `key` and sets it back when it drifted. Does nothing unless
/// this replica leads, the Platform is not suspended and not reconciling,
/// and the object is still suspect. Whether it wrote the object.
pub(super) async fn correct(inner: &Arc<Inner>, key: &ObjectKey) -> bool {
    // look (no client required)
    let (managed, clients, lock, platform_uid) = {
        let state = inner.lock();
        let Some(m) = state.objects.get(key) else {
            return false;
        };
        let Some(tenant) = state.tenants.get(&*m.platform) else {
            return false;
        };
        if tenant.suspended {
            tracing::info!(object = %key, "drift: left alone, the platform is suspended");
            return false;
        }
        (
            m.clone(),
            tenant.clients.clone(),
            Arc::clone(&tenant.lock),
            tenant.uid.clone(),
        )
    };
    if !inner.leadership.borrow().is_leader() {
        return false;
    }
    // Until the Platform reconciles again (its ServiceAccount changed).
    let Some(clients) = clients else { return false };
    // A reconcile of the Platform is running: it applies the object
    // itself, and its commit looks at what changed meanwhile.
    let Ok(_guard) = lock.try_read_owned() else {
        return false;
    };
    if !inner.suspect(key) {
        return false;
    }

    // dry run, then apply (client required)
    let api = apply::api_from(
        &clients.objects,
        &managed.kind.resource,
        managed.kind.namespaced,
        key.namespace.as_deref(),
    );
    // The cache keeps too little of an object to compare it: read it.
    let live = match api.get_opt(&key.name).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(object = %key, "drift: cannot read: {e}");
            return false;
        }
    };
    // Taking back the fields the template sets, from whoever changed
    // them: they were distro's when it last applied this very template.
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let desired: serde_json::Value = match serde_json::from_str(&managed.desired) {
        Ok(v) => v,
        Err(e) => {
            // Written by `Drift::commit` from a parsed object: cannot fail.
            tracing::warn!(object = %key, "drift: recorded object unreadable: {e}");
            return false;
        }
    };
    let body = Patch::Apply(&desired);
    let corrected = match &live {
        Some(live) if apply::reconcile_disabled(live) => return false,
        Some(live) => {
            let dry = match api.patch(&key.name, &params.clone().dry_run(), &body).await {
                Ok(dry) => dry,
                Err(e) => {
                    failed(inner, key, &managed, platform_uid, &e.to_string()).await;
                    return false;
                }
            };
            let (before, after) = (view(live), view(&dry));
            if before == after {
                // Only what distro does not set moved.
                refresh(inner, key, live);
                return false;
            }
            Corrected::Restored {
                fields: changed_paths(&before, &after, FIELDS_SHOWN),
                managers: other_managers(live),
            }
        }
        None => Corrected::Recreated,
    };
    let applied = match api.patch(&key.name, &params, &body).await {
        Ok(applied) => applied,
        Err(e) => {
            failed(inner, key, &managed, platform_uid, &e.to_string()).await;
            return false;
        }
    };
    refresh(inner, key, &applied);
    inner.metrics.inc_drift_corrections(1);

    let note = match &corrected {
        Corrected::Recreated => format!("{}: recreated (it was deleted)", key),
        Corrected::Restored { fields, managers } => {
            let by = match managers.first() {
                Some(m) => format!(" (changed by {m})"),
                None => String::new(),
            };
            format!("{}: set back {}{by}", key, fields.join(", "))
        }
    };
    tracing::info!(
        platform = %managed.platform.1,
        namespace = %managed.platform.0,
        release = %managed.release.1,
        object = %key,
        "drift corrected: {note}"
    );
    publish(
        inner,
        (key, &managed),
        platform_uid,
        EventType::Warning,
        "DriftCorrected",
        match corrected {
            Corrected::Recreated => "Recreate",
            Corrected::Restored { .. } => "SetBack",
        },
        &note,
    )
    .await;
    true
}

/// Says that `key` was changed back after each of its last `streak`
/// corrections, so the next one waits `wait`.
pub(super) async fn backing_off(
    inner: &Inner,
    key: &ObjectKey,
    streak: u32,
    wait: std::time::Duration,
) {
    let (managed, platform_uid) = {
        let state = inner.lock();
        let Some(m) = state.objects.get(key) else {
            return;
        };
        let uid = state.tenants.get(&*m.platform).and_then(|t| t.uid.clone());
        (m.clone(), uid)
    };
    let note = format!(
        "{}: changed again after each of {streak} corrections in a row; the next correction waits {}s. \
         If another controller owns these fields, leave them out of the template or annotate the object \
         {}: disabled",
        key,
        wait.as_secs(),
        apply::RECONCILE_ANNOTATION,
    );
    tracing::warn!(
        platform = %managed.platform.1,
        namespace = %managed.platform.0,
        release = %managed.release.1,
        object = %key,
        streak,
        wait_s = wait.as_secs(),
        "drift: backing off"
    );
    publish(
        inner,
        (key, &managed),
        platform_uid,
        EventType::Warning,
        "DriftBackoff",
        "Correct",
        &note,
    )
    .await;
}

/// Records that the object now holds what distro applied.
fn refresh(inner: &Inner, key: &ObjectKey, live: &DynamicObject) {
    let mut state = inner.lock();
    if let Some(m) = state.objects.get_mut(key) {
        m.resource_version = live.metadata.resource_version.clone();
        m.content = content(live);
    }
}

async fn failed(
    inner: &Inner,
    key: &ObjectKey,
    managed: &Managed,
    platform_uid: Option<String>,
    error: &str,
) {
    tracing::warn!(object = %key, "drift: correction failed: {error}");
    let note = format!("{}: drift correction failed: {error}", key);
    publish(
        inner,
        (key, managed),
        platform_uid,
        EventType::Warning,
        "DriftCorrectionFailed",
        "Correct",
        &note,
    )
    .await;
}

/// The same Event on the Release (where `kubectl describe release` shows
/// it) and on the Platform.
async fn publish(
    inner: &Inner,
    (key, managed): (&ObjectKey, &Managed),
    platform_uid: Option<String>,
    kind: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let release = ObjectReference {
        api_version: Some(crate::status::API_VERSION.into()),
        kind: Some(crate::status::KIND.into()),
        name: Some(managed.release.1.clone()),
        namespace: Some(managed.release.0.clone()),
        ..Default::default()
    };
    let platform = ObjectReference {
        api_version: Some(super::super::platform::API_VERSION.into()),
        kind: Some(super::super::platform::KIND.into()),
        name: Some(managed.platform.1.clone()),
        namespace: Some(managed.platform.0.clone()),
        uid: platform_uid,
        ..Default::default()
    };
    // The object is the Event's related object: Events of one reason on
    // one Release are otherwise folded into one series, showing the note
    // of the first object only.
    let object = ObjectReference {
        api_version: Some(managed.kind.resource.api_version.clone()),
        kind: Some(managed.kind.resource.kind.clone()),
        name: Some(key.name.clone()),
        namespace: key.namespace.clone(),
        ..Default::default()
    };
    let event = Event {
        type_: kind,
        reason: reason.into(),
        note: Some(super::super::reconcile::cut(note)),
        action: action.into(),
        secondary: Some(object),
    };
    for reference in [release, platform] {
        if let Err(e) = inner.recorder.publish(&event, &reference).await {
            tracing::debug!(object = ?reference.name, "event not recorded: {e}");
        }
    }
}
