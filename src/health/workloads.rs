//! Workload kinds: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
//! CronJob, Pod, and the PodDisruptionBudget that guards them.
//!
//! Replica counts come from `status`; a missing count is 0, a missing
//! `spec.replicas` is 1 (the API default).

use serde_json::Value;

use super::conditions::{self, Condition};
use super::{Assessment, boolean, field, int, text};

/// An object whose controller has not written a status yet.
fn no_status(kind: &str) -> Assessment {
    Assessment::in_progress(format!("{kind}: no status yet"))
}

fn has_status(object: &Value) -> bool {
    field(object, &["status"]).is_some_and(|s| !s.is_null())
}

fn count(object: &Value, key: &str) -> i64 {
    int(object, &["status", key]).unwrap_or(0)
}

fn desired_replicas(object: &Value) -> i64 {
    int(object, &["spec", "replicas"]).unwrap_or(1)
}

/// Current when the new ReplicaSet runs every replica, all ready and
/// available, and no old replica is left.
pub(super) fn deployment(object: &Value) -> Assessment {
    const KIND: &str = "Deployment";
    if let Some(c) = conditions::find(object, "Progressing")
        && c.reason == "ProgressDeadlineExceeded"
    {
        return Assessment::failed(format!(
            "{KIND}: progress deadline exceeded: {}",
            c.detail()
        ));
    }
    if !has_status(object) {
        return no_status(KIND);
    }
    let spec = desired_replicas(object);
    let replicas = count(object, "replicas");
    let updated = count(object, "updatedReplicas");
    let ready = count(object, "readyReplicas");
    let available = count(object, "availableReplicas");
    if updated < spec {
        return Assessment::in_progress(format!("{KIND}: {updated} of {spec} replicas updated"));
    }
    if replicas > spec {
        return Assessment::in_progress(format!(
            "{KIND}: {} old replicas pending termination",
            replicas - spec
        ));
    }
    if ready < spec {
        return Assessment::in_progress(format!("{KIND}: {ready} of {spec} replicas ready"));
    }
    if available < spec {
        return Assessment::in_progress(format!(
            "{KIND}: {available} of {spec} replicas available"
        ));
    }
    if let Some(c) = conditions::find(object, "Available").filter(|c| !c.is_true()) {
        return Assessment::in_progress(format!("{KIND}: {}", c.describe()));
    }
    // Progressing=True stays on a rollout reason (ReplicaSetUpdated, ...)
    // until the controller declares the new ReplicaSet available.
    if let Some(c) = conditions::find(object, "Progressing")
        && c.is_true()
        && c.reason != "NewReplicaSetAvailable"
    {
        return Assessment::in_progress(format!("{KIND}: rollout in progress: {}", c.detail()));
    }
    Assessment::current(format!("{KIND}: {ready} of {spec} replicas ready"))
}

/// Current when every replica is ready and runs the update revision. With a
/// partitioned rolling update, only the replicas at or above the partition
/// must be updated; with `OnDelete`, revisions are not compared (pods move
/// to a new revision only when someone deletes them).
pub(super) fn stateful_set(object: &Value) -> Assessment {
    const KIND: &str = "StatefulSet";
    if !has_status(object) {
        return no_status(KIND);
    }
    let spec = desired_replicas(object);
    let replicas = count(object, "replicas");
    let ready = count(object, "readyReplicas");
    let current = count(object, "currentReplicas");
    let updated = count(object, "updatedReplicas");
    if replicas < spec {
        return Assessment::in_progress(format!("{KIND}: {replicas} of {spec} replicas created"));
    }
    if ready < spec {
        return Assessment::in_progress(format!("{KIND}: {ready} of {spec} replicas ready"));
    }
    if replicas > spec {
        return Assessment::in_progress(format!(
            "{KIND}: {} extra replicas pending termination",
            replicas - spec
        ));
    }
    let strategy = text(object, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    if strategy == "OnDelete" {
        return Assessment::current(format!(
            "{KIND}: {ready} of {spec} replicas ready (OnDelete: pods update when deleted)"
        ));
    }
    let partition = int(
        object,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
    )
    .unwrap_or(0);
    if partition > 0 {
        let expected = (spec - partition).max(0);
        if updated < expected {
            return Assessment::in_progress(format!(
                "{KIND}: {updated} of {expected} replicas above partition {partition} updated"
            ));
        }
        return Assessment::current(format!(
            "{KIND}: partitioned rollout done, {updated} of {spec} replicas updated"
        ));
    }
    if updated < spec {
        return Assessment::in_progress(format!("{KIND}: {updated} of {spec} replicas updated"));
    }
    let current_revision = text(object, &["status", "currentRevision"]).unwrap_or_default();
    let update_revision = text(object, &["status", "updateRevision"]).unwrap_or_default();
    if !current_revision.is_empty()
        && !update_revision.is_empty()
        && current_revision != update_revision
    {
        return Assessment::in_progress(format!(
            "{KIND}: waiting for revision {update_revision} to replace {current_revision}"
        ));
    }
    if current < spec {
        return Assessment::in_progress(format!(
            "{KIND}: {current} of {spec} replicas at the current revision"
        ));
    }
    Assessment::current(format!("{KIND}: {ready} of {spec} replicas ready"))
}

/// Current when every node that should run a pod runs an updated, ready and
/// available one. The controller always writes `observedGeneration`, so its
/// absence means the DaemonSet has not been seen yet.
pub(super) fn daemon_set(object: &Value) -> Assessment {
    const KIND: &str = "DaemonSet";
    if !has_status(object) {
        return no_status(KIND);
    }
    if int(object, &["status", "observedGeneration"]).is_none() {
        return Assessment::in_progress(format!("{KIND}: not yet observed by the controller"));
    }
    let Some(desired) = int(object, &["status", "desiredNumberScheduled"]) else {
        return Assessment::in_progress(format!("{KIND}: desired number of pods not known yet"));
    };
    let checks = [
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    ];
    for (key, word) in checks {
        let n = count(object, key);
        if n < desired {
            return Assessment::in_progress(format!("{KIND}: {n} of {desired} pods {word}"));
        }
    }
    Assessment::current(format!("{KIND}: {desired} of {desired} pods ready"))
}

/// Like a Deployment's replicas, without rollouts: every replica ready and
/// available, none extra.
pub(super) fn replica_set(object: &Value) -> Assessment {
    const KIND: &str = "ReplicaSet";
    if let Some(c) = conditions::find(object, "ReplicaFailure").filter(Condition::is_true) {
        return Assessment::in_progress(format!("{KIND}: {}", c.describe()));
    }
    if !has_status(object) {
        return no_status(KIND);
    }
    let spec = desired_replicas(object);
    let replicas = count(object, "replicas");
    let ready = count(object, "readyReplicas");
    let available = count(object, "availableReplicas");
    if replicas < spec {
        return Assessment::in_progress(format!("{KIND}: {replicas} of {spec} replicas created"));
    }
    if ready < spec {
        return Assessment::in_progress(format!("{KIND}: {ready} of {spec} replicas ready"));
    }
    if available < spec {
        return Assessment::in_progress(format!(
            "{KIND}: {available} of {spec} replicas available"
        ));
    }
    if replicas > spec {
        return Assessment::in_progress(format!(
            "{KIND}: {} extra replicas pending termination",
            replicas - spec
        ));
    }
    Assessment::current(format!("{KIND}: {ready} of {spec} replicas ready"))
}

/// Current when complete (or suspended: nothing will run until someone
/// resumes it), Failed when failed.
pub(super) fn job(object: &Value) -> Assessment {
    const KIND: &str = "Job";
    let succeeded = count(object, "succeeded");
    let active = count(object, "active");
    let failed = count(object, "failed");
    // FailureTarget and SuccessCriteriaMet come first on newer clusters; the
    // outcome is decided then, the pods are only winding down.
    for kind in ["Failed", "FailureTarget"] {
        if let Some(c) = conditions::find(object, kind).filter(Condition::is_true) {
            return Assessment::failed(format!("{KIND} failed: {}", c.detail()));
        }
    }
    if conditions::is_true(object, "Complete") || conditions::is_true(object, "SuccessCriteriaMet")
    {
        return Assessment::current(format!("{KIND} complete: {succeeded} succeeded"));
    }
    if boolean(object, &["spec", "suspend"]) || conditions::is_true(object, "Suspended") {
        return Assessment::current(format!("{KIND} suspended"));
    }
    if text(object, &["status", "startTime"]).is_none() && active == 0 {
        return Assessment::in_progress(format!("{KIND} not started yet"));
    }
    let mut message = format!("{KIND} running: {active} active, {succeeded} succeeded");
    if failed > 0 {
        message.push_str(&format!(", {failed} failed"));
    }
    Assessment::in_progress(message)
}

/// A CronJob has nothing to become ready: the Jobs it creates do.
pub(super) fn cron_job(object: &Value) -> Assessment {
    if boolean(object, &["spec", "suspend"]) {
        return Assessment::current("CronJob suspended");
    }
    match text(object, &["spec", "schedule"]) {
        Some(schedule) => Assessment::current(format!("CronJob scheduled: {schedule}")),
        None => Assessment::current("CronJob scheduled"),
    }
}

/// Waiting reasons that do not fix themselves without a change (an image
/// that does not exist, a container that keeps crashing).
const STUCK_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
];

/// Current when it ran to completion or runs ready; Failed when it failed
/// or a container is stuck; otherwise InProgress.
pub(super) fn pod(object: &Value) -> Assessment {
    const KIND: &str = "Pod";
    let phase = text(object, &["status", "phase"]);
    match phase {
        Some("Succeeded") => return Assessment::current(format!("{KIND} completed")),
        Some("Failed") => {
            let reason = text(object, &["status", "reason"]);
            let message = text(object, &["status", "message"]);
            let detail = match (reason, message) {
                (Some(r), Some(m)) => format!(": {r}: {m}"),
                (Some(s), None) | (None, Some(s)) => format!(": {s}"),
                (None, None) => String::new(),
            };
            return Assessment::failed(format!("{KIND} failed{detail}"));
        }
        _ => {}
    }
    if phase == Some("Running") && conditions::is_true(object, "Ready") {
        return Assessment::current(format!("{KIND} ready"));
    }
    if let Some(stuck) = stuck_container(object) {
        return Assessment::failed(stuck);
    }
    if let Some(c) = conditions::find(object, "PodScheduled")
        && c.status == conditions::Truth::False
    {
        return Assessment::in_progress(format!("{KIND} not scheduled: {}", c.detail()));
    }
    match phase {
        Some("Running") => {
            let statuses =
                field(object, &["status", "containerStatuses"]).and_then(Value::as_array);
            let total = statuses.map_or(0, Vec::len);
            let ready = statuses.map_or(0, |list| {
                list.iter()
                    .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                    .count()
            });
            Assessment::in_progress(format!(
                "{KIND} running: {ready} of {total} containers ready"
            ))
        }
        Some(other) => Assessment::in_progress(format!("{KIND} {other}")),
        None => Assessment::in_progress(format!("{KIND}: no status yet")),
    }
}

fn stuck_container(object: &Value) -> Option<String> {
    let lists = [
        ("initContainerStatuses", "init container"),
        ("containerStatuses", "container"),
    ];
    for (key, word) in lists {
        let Some(statuses) = field(object, &["status", key]).and_then(Value::as_array) else {
            continue;
        };
        for s in statuses {
            let Some(waiting) = field(s, &["state", "waiting"]) else {
                continue;
            };
            let reason = waiting
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !STUCK_REASONS.contains(&reason) {
                continue;
            }
            let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
            let mut message = format!("Pod: {word} {name}: {reason}");
            if let Some(m) = waiting
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
            {
                message.push_str(": ");
                message.push_str(m);
            }
            return Some(message);
        }
    }
    None
}

/// Current when enough pods are healthy for the budget.
pub(super) fn pod_disruption_budget(object: &Value) -> Assessment {
    const KIND: &str = "PodDisruptionBudget";
    if !has_status(object) {
        return no_status(KIND);
    }
    if int(object, &["status", "observedGeneration"]).is_none() {
        return Assessment::in_progress(format!("{KIND}: not yet observed by the controller"));
    }
    let healthy = count(object, "currentHealthy");
    let desired = count(object, "desiredHealthy");
    let message = format!("{KIND}: {healthy} healthy, {desired} required");
    if healthy < desired {
        Assessment::in_progress(message)
    } else {
        Assessment::current(message)
    }
}
