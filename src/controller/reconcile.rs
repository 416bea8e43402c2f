//! One reconcile of one Platform, in visible stages:
//! fetch (network) -> validate and render (pure) -> apply (cluster) ->
//! status and Events. The CLI's `distro apply` goes through the same
//! [`apply_snapshot`] call.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::runtime::events::{Event, EventType, Recorder};

use super::platform::{self, Platform, PlatformReason, PlatformStatus, ReleaseCounts};
use super::source::Failure;
use super::webhook::{self, HookType, Receiver, Registry};
use crate::apply::{self, Options, Report, SnapshotError, apply_snapshot};
use crate::status::{ConditionStatus, Owner, Store};

/// Events published at the same time after a reconcile.
const EVENT_CONCURRENCY: usize = 16;

/// Largest message written into a condition or an Event.
const MESSAGE_LIMIT: usize = 4096;

/// What every reconcile shares.
pub struct Shared {
    pub client: kube::Client,
    /// The controller's own configuration, from which impersonating
    /// clients are made.
    pub config: kube::Config,
    /// Git caches live under `<state_dir>/git`.
    pub state_dir: PathBuf,
    /// Releases applied at the same time, per Platform.
    pub concurrency: usize,
    pub registry: Registry,
    pub recorder: Recorder,
    pub metrics: std::sync::Arc<super::metrics::Metrics>,
    pub drift: super::drift::Drift,
    pub renders: super::renders::Renders,
    /// Every Release record, as a watch keeps them: a reconcile starts
    /// from them instead of listing.
    pub records: std::sync::Arc<crate::status::Records>,
}

/// What the loop does next with a Platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Next {
    /// Check again after the interval: all is well.
    After(Duration),
    /// Something failed: retry with backoff (the caller counts failures).
    Retry,
    /// Releases failed: retry after this delay (`spec.retry`).
    RetryAfter(Duration),
    /// Nothing to do until the object changes (suspended).
    AwaitChange,
}

/// Reconciles one Platform and writes its status. Returns what to do next
/// and the Platform's Ready status as written.
pub async fn reconcile(shared: &Shared, platform: &Platform) -> (Next, Option<ConditionStatus>) {
    let mut status = platform.status.clone();
    let forced = platform.generation != status.observed_generation
        || (platform.requested_at.is_some()
            && platform.requested_at != status.last_handled_reconcile_at);
    status.observed_generation = platform.generation;
    status.last_handled_reconcile_at = platform
        .requested_at
        .clone()
        .or(status.last_handled_reconcile_at);
    status.webhook_path = register_webhook(shared, platform).await;

    let mut report = None;
    let next = run(shared, platform, &mut status, forced, &mut report).await;
    let ready = status.ready().map(|c| c.status);
    let written = platform::write_status(&shared.client, platform, &status).await;
    // The releases' Events follow the status: whoever waits for the
    // Platform to be Ready does not wait for them too.
    if let Some(report) = &report {
        report_events(shared, platform, report).await;
    }
    if let Err(e) = written {
        tracing::warn!(platform = %platform.name, namespace = %platform.namespace, "{e}");
        return (Next::Retry, ready);
    }
    (next, ready)
}

/// Fetches, renders and applies; leaves in `report` what an applied run
/// reports, for its Events.
async fn run(
    shared: &Shared,
    platform: &Platform,
    status: &mut PlatformStatus,
    forced: bool,
    report: &mut Option<Report>,
) -> Next {
    let generation = platform.generation;
    if platform.spec.suspend {
        let at = status.last_applied_revision.clone().unwrap_or_default();
        status.set(
            PlatformReason::Suspended,
            &format!("reconciliation is suspended (at revision {at})"),
            generation,
        );
        return Next::AwaitChange;
    }
    // fetch (network): resolve the ref first, download only when it moved
    let fetch_started = std::time::Instant::now();
    let pending = super::source::resolve(shared, platform).await;
    shared.metrics.observe_fetch(
        super::source::kind(platform),
        &platform.namespace,
        &platform.name,
        fetch_started.elapsed(),
    );
    let pending = match pending {
        Ok(p) => p,
        Err(Failure::Spec(message)) => {
            status.set(PlatformReason::ValidationFailed, &message, generation);
            return Next::AwaitChange;
        }
        Err(Failure::Fetch(message)) => {
            return fetch_failed(shared, platform, status, &message).await;
        }
    };
    let revision = pending.revision();
    tracing::Span::current().record("revision", revision.as_str());
    let ready_now = status.ready().map(|c| (c.status, c.reason));
    if !forced && status.last_attempted_revision.as_deref() == Some(revision.as_str()) {
        match ready_now {
            // Applied and Ready: nothing moved, nothing to do (drift
            // correction keeps the objects as applied). A process that has
            // not applied it yet applies once, to learn what it watches.
            Some((ConditionStatus::True, _)) if shared.drift.knows(platform) => {
                return Next::After(platform.interval());
            }
            // This revision does not validate, or failed every retry: only
            // a new one (or a requested reconcile) can help.
            Some((_, PlatformReason::ValidationFailed | PlatformReason::RetriesExhausted)) => {
                return Next::After(platform.interval());
            }
            _ => {}
        }
    }
    let new_revision = status.last_applied_revision.as_deref() != Some(revision.as_str());
    if forced || status.last_attempted_revision.as_deref() != Some(revision.as_str()) {
        status.failures = 0;
    }
    status.last_attempted_revision = Some(revision.clone());
    // Re-applying the revision that is applied and Ready is not news: no
    // Progressing flip, so that a no-op reconcile writes no status.
    let reapply = !new_revision && matches!(ready_now, Some((ConditionStatus::True, _)));
    if !reapply {
        status.set(
            PlatformReason::Progressing,
            &format!("reconciling revision {revision}"),
            generation,
        );
    }
    let clients = match clients(shared, platform) {
        Ok(c) => c,
        Err(message) => {
            status.set(PlatformReason::ReleasesNotReady, &message, generation);
            return Next::Retry;
        }
    };
    // Corrections of this Platform's objects wait from here on: the
    // Release records listed below stay what the run finds.
    let ledger = shared.drift.begin(platform, &clients).await;
    let store = Store::new(
        clients.records.clone(),
        Owner {
            platform: platform.name.clone(),
            namespace: Some(platform.namespace.clone()),
        },
    )
    .with_records(std::sync::Arc::clone(&shared.records));
    // Reading the Release records is one list, and saying what is about to
    // happen two requests: the download and the render wait for none of
    // them. A store that fails to prepare here is prepared again by the
    // run, which reports the failure.
    let prepared = tokio::spawn({
        let store = store.clone();
        let timeout = platform.timeout();
        async move { store.prepare(timeout).await }
    });
    let announce = async {
        if !reapply && let Err(e) = platform::write_status(&shared.client, platform, status).await {
            tracing::warn!(platform = %platform.name, "{e}");
        }
        if new_revision {
            event(
                shared,
                platform,
                EventType::Normal,
                "NewRevision",
                &format!("new revision {revision}"),
            )
            .await;
        }
    };
    let ((), checked_out) =
        tokio::join!(announce, super::source::checkout(shared, platform, pending));
    let snapshot = match checked_out {
        Ok(s) => s,
        Err(message) => {
            prepared.abort();
            return fetch_failed(shared, platform, status, &message).await;
        }
    };

    // validate, render (pure) and apply (cluster)
    let key = (platform.namespace.clone(), platform.name.clone());
    let options = Options {
        timeout: platform.timeout(),
        concurrency: shared.concurrency,
        prune: platform.spec.prune,
        source_revision: Some(revision.clone()),
        skip: Some(apply::Skip(ledger.clone())),
        take_back: true,
        render: crate::render::Options {
            cache: Some(shared.renders.of(&key)),
            ..Default::default()
        },
        ..Options::default()
    };
    let applied = apply_snapshot(clients, snapshot, Some(store), options, None).await;
    if applied.is_ok() {
        shared.drift.commit(&ledger);
    }
    match applied {
        Err(SnapshotError::Invalid(invalid)) => {
            let message = format!(
                "revision {revision} is invalid and was not applied:\n{}",
                invalid.summary(MESSAGE_LIMIT)
            );
            status.set(PlatformReason::ValidationFailed, &message, generation);
            event(
                shared,
                platform,
                EventType::Warning,
                "ValidationFailed",
                &message,
            )
            .await;
            Next::After(platform.interval())
        }
        Err(e) => {
            let message = cut(&e.to_string());
            event(
                shared,
                platform,
                EventType::Warning,
                "ApplyFailed",
                &message,
            )
            .await;
            retry(platform, status, &message)
        }
        Ok(applied) => {
            for r in applied
                .report
                .releases
                .iter()
                .chain(&applied.report.removed)
            {
                shared.metrics.record_changes(&r.changes);
            }
            let counts = ReleaseCounts {
                total: applied.report.releases.len() as u32,
                ready: applied.report.releases.iter().filter(|r| r.ready()).count() as u32,
            };
            status.releases = Some(counts);
            let next = if applied.report.all_ready() {
                status.failures = 0;
                status.last_applied_revision = Some(revision.clone());
                status.set(
                    PlatformReason::ReconciliationSucceeded,
                    &format!("Applied revision {revision}"),
                    generation,
                );
                Next::After(platform.interval())
            } else {
                let failing: Vec<String> = applied
                    .report
                    .releases
                    .iter()
                    .chain(&applied.report.removed)
                    .filter(|r| !r.ready())
                    .map(|r| format!("{}: {}: {}", r.name, r.summary.reason, r.summary.message))
                    .collect();
                let message = cut(&format!(
                    "{}/{} releases Ready at revision {revision}; {}",
                    counts.ready,
                    counts.total,
                    failing.join("; ")
                ));
                retry(platform, status, &message)
            };
            *report = Some(applied.report);
            next
        }
    }
}

/// Counts a failed attempt at the current revision: retried after
/// `spec.retry`'s backoff, or Stalled once the limit is reached.
fn retry(platform: &Platform, status: &mut PlatformStatus, message: &str) -> Next {
    status.failures = status.failures.saturating_add(1);
    let retry = &platform.spec.retry;
    if status.failures > retry.limit {
        status.set(
            PlatformReason::RetriesExhausted,
            &cut(&format!(
                "{message}; gave up after {} attempts (spec.retry.limit {}); a new revision or `distro reconcile` tries again",
                status.failures, retry.limit
            )),
            platform.generation,
        );
        return Next::After(platform.interval());
    }
    status.set(
        PlatformReason::ReleasesNotReady,
        message,
        platform.generation,
    );
    Next::RetryAfter(retry.delay(status.failures))
}

async fn fetch_failed(
    shared: &Shared,
    platform: &Platform,
    status: &mut PlatformStatus,
    message: &str,
) -> Next {
    let message = cut(message);
    status.set(PlatformReason::FetchFailed, &message, platform.generation);
    event(
        shared,
        platform,
        EventType::Warning,
        "FetchFailed",
        &message,
    )
    .await;
    Next::Retry
}

/// The clients of a run: the Platform's objects go through an identity
/// impersonating `spec.serviceAccountName` when it is set.
fn clients(shared: &Shared, platform: &Platform) -> Result<apply::Clients, String> {
    let Some(sa) = &platform.spec.service_account_name else {
        return Ok(shared.client.clone().into());
    };
    let mut config = shared.config.clone();
    config.auth_info.impersonate =
        Some(format!("system:serviceaccount:{}:{sa}", platform.namespace));
    // No groups: the API server gives an impersonated ServiceAccount its
    // own groups, and the controller needs no right to impersonate groups.
    let objects = kube::Client::try_from(config)
        .map_err(|e| format!("cannot build a client for ServiceAccount {sa}: {e}"))?;
    Ok(apply::Clients {
        objects,
        records: shared.client.clone(),
    })
}

/// Reads a key of a Secret in the Platform's namespace as text.
pub(super) async fn secret(
    shared: &Shared,
    namespace: &str,
    name: &str,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let api: kube::Api<Secret> = kube::Api::namespaced(shared.client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| format!("Secret/{namespace}/{name}: cannot read: {e}"))?
        .ok_or_else(|| format!("Secret/{namespace}/{name} not found"))?;
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in secret.data.unwrap_or_default() {
        let text = String::from_utf8(v.0)
            .map_err(|_| format!("Secret/{namespace}/{name}: key {k} is not UTF-8 text"))?;
        out.insert(k, text);
    }
    for (k, v) in secret.string_data.unwrap_or_default() {
        out.insert(k, v);
    }
    Ok(out)
}

/// Registers the Platform's webhook receiver; returns its path.
pub(crate) async fn register_webhook(shared: &Shared, platform: &Platform) -> Option<String> {
    let Some(hook) = &platform.spec.webhook else {
        shared.registry.remove(&platform.namespace, &platform.name);
        return None;
    };
    let kind: HookType = match hook.kind.parse() {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(platform = %platform.name, "{e}");
            return None;
        }
    };
    let token = match secret(shared, &platform.namespace, &hook.secret_ref.name).await {
        Ok(mut data) => data.remove("token"),
        Err(e) => {
            tracing::warn!(platform = %platform.name, "webhook: {e}");
            None
        }
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        shared.registry.remove(&platform.namespace, &platform.name);
        return None;
    };
    let path = webhook::hook_path(&token, &platform.namespace, &platform.name);
    shared.registry.set(Receiver {
        namespace: platform.namespace.clone(),
        name: platform.name.clone(),
        kind,
        token,
    });
    Some(path)
}

/// Events a person wants to see, on the Platform: releases installed,
/// upgraded, failed and removed; each release's also on its Release.
/// Published a few at a time: a cold install of a thousand releases is two
/// thousand Events, which one after the other would hold the Platform's
/// status back for seconds.
async fn report_events(shared: &Shared, platform: &Platform, report: &Report) {
    let on_platform = platform_reference(platform);
    let mut events: Vec<(ObjectReference, EventType, &str, String)> = Vec::new();
    for r in &report.releases {
        let (kind, reason) = match r.summary.reason {
            crate::status::Reason::InstallSucceeded if r.changes.wrote() => {
                (EventType::Normal, "InstallSucceeded")
            }
            crate::status::Reason::UpgradeSucceeded if r.changes.wrote() => {
                (EventType::Normal, "UpgradeSucceeded")
            }
            reason if !reason.ready() => (EventType::Warning, "ReleaseNotReady"),
            _ => continue,
        };
        let note = format!(
            "{}/{} {}: {} ({})",
            r.namespace,
            r.name,
            r.revision,
            r.summary.message,
            r.changes.summary()
        );
        // The same on the Release, where `kubectl describe release` shows it.
        let release = ObjectReference {
            api_version: Some(crate::status::API_VERSION.into()),
            kind: Some(crate::status::KIND.into()),
            name: Some(r.name.clone()),
            namespace: Some(r.namespace.clone()),
            ..Default::default()
        };
        events.push((on_platform.clone(), kind, reason, note.clone()));
        events.push((release, kind, reason, note));
    }
    for r in &report.removed {
        let note = format!(
            "{}/{} removed ({})",
            r.namespace,
            r.name,
            r.changes.summary()
        );
        events.push((on_platform.clone(), EventType::Normal, "Pruned", note));
    }
    futures::stream::iter(events)
        .for_each_concurrent(
            EVENT_CONCURRENCY,
            |(reference, kind, reason, note)| async move {
                publish(shared, &reference, kind, reason, &note).await;
            },
        )
        .await;
}

fn platform_reference(platform: &Platform) -> ObjectReference {
    ObjectReference {
        api_version: Some(platform::API_VERSION.into()),
        kind: Some(platform::KIND.into()),
        name: Some(platform.name.clone()),
        namespace: Some(platform.namespace.clone()),
        uid: platform.uid.clone(),
        ..Default::default()
    }
}

async fn event(shared: &Shared, platform: &Platform, kind: EventType, reason: &str, note: &str) {
    publish(shared, &platform_reference(platform), kind, reason, note).await;
}

async fn publish(
    shared: &Shared,
    reference: &ObjectReference,
    kind: EventType,
    reason: &str,
    note: &str,
) {
    let ev = Event {
        type_: kind,
        reason: reason.into(),
        note: Some(cut(note)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = shared.recorder.publish(&ev, reference).await {
        tracing::debug!(object = ?reference.name, "event not recorded: {e}");
    }
}

/// A message cut to what conditions and Events hold.
pub(super) fn cut(message: &str) -> String {
    if message.len() <= MESSAGE_LIMIT {
        return message.to_string();
    }
    let mut end = MESSAGE_LIMIT;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let m = "é".repeat(MESSAGE_LIMIT);
        let c = cut(&m);
        assert!(c.len() <= MESSAGE_LIMIT + 3 && c.ends_with("..."));
    }
}
