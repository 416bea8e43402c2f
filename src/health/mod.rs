//! Readiness of one Kubernetes object, read from the object alone (no
//! cluster), by the rules of kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus`):
//!
//! 1. `metadata.deletionTimestamp` set: [`Status::Terminating`].
//! 2. `metadata.generation` ahead of `status.observedGeneration`: the
//!    controller has not seen the latest spec, [`Status::InProgress`].
//! 3. The standard conditions any kind may carry: `Stalled=True` is
//!    [`Status::Failed`], `Reconciling=True` is [`Status::InProgress`].
//! 4. Built-in kinds with a known meaning of "ready" (Deployment,
//!    StatefulSet, DaemonSet, ReplicaSet, Job, Pod, PodDisruptionBudget,
//!    CustomResourceDefinition, PersistentVolumeClaim, Service, Namespace)
//!    are judged by their status fields.
//! 5. Anything else is judged by its `Ready` condition when it has one, and
//!    is [`Status::Current`] when it has none (ConfigMap, Secret, RBAC, custom
//!    resources without conditions).
//!
//! [`assess_documents`] applies [`assess`] to every object of a YAML (or
//! JSON) stream, such as `kubectl get -o yaml` output.

mod conditions;
mod documents;
mod objects;
pub mod output;
mod workloads;

use serde_json::Value;

pub use documents::{Error, ObjectRef, assess_documents};

/// How far an object is from the state its spec asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    /// The object reached the state its spec asks for.
    Current,
    /// The object is on its way; waiting longer may make it current.
    InProgress,
    /// The object will not become current without a change (crash loop,
    /// failed job, progress deadline exceeded, `Stalled=True`).
    Failed,
    /// The object is being deleted.
    Terminating,
    /// The object does not exist. Never returned by [`assess`]: callers that
    /// look an object up and find nothing use [`Assessment::not_found`].
    NotFound,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Current => "Current",
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::Terminating => "Terminating",
            Status::NotFound => "NotFound",
        })
    }
}

/// A status with a short reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Assessment {
    pub status: Status,
    pub message: String,
}

impl Assessment {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Assessment {
            status,
            message: message.into(),
        }
    }

    pub fn current(message: impl Into<String>) -> Self {
        Self::new(Status::Current, message)
    }

    pub fn in_progress(message: impl Into<String>) -> Self {
        Self::new(Status::InProgress, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Status::Failed, message)
    }

    /// For an object that was looked up and does not exist.
    pub fn not_found() -> Self {
        Self::new(Status::NotFound, "not found")
    }
}

/// Assesses one object (a full object as the API server returns it, with
/// `status`). Never returns [`Status::NotFound`].
pub fn assess(object: &Value) -> Assessment {
    if let Some(a) = terminating(object) {
        return a;
    }
    if let Some(a) = generation_lag(object) {
        return a;
    }
    if let Some(a) = conditions::standard(object) {
        return a;
    }
    let kind = text(object, &["kind"]).unwrap_or_default();
    let group = text(object, &["apiVersion"]).map(group_of);
    // Without an apiVersion, trust the kind alone.
    let in_group = |g: &str| group.is_none_or(|actual| actual == g);
    match kind {
        "Deployment" if in_group("apps") => workloads::deployment(object),
        "StatefulSet" if in_group("apps") => workloads::stateful_set(object),
        "DaemonSet" if in_group("apps") => workloads::daemon_set(object),
        "ReplicaSet" if in_group("apps") => workloads::replica_set(object),
        "Job" if in_group("batch") => workloads::job(object),
        "CronJob" if in_group("batch") => workloads::cron_job(object),
        "Pod" if in_group("") => workloads::pod(object),
        "PodDisruptionBudget" if in_group("policy") => workloads::pod_disruption_budget(object),
        "CustomResourceDefinition" if in_group("apiextensions.k8s.io") => {
            objects::custom_resource_definition(object)
        }
        "PersistentVolumeClaim" if in_group("") => objects::persistent_volume_claim(object),
        "Service" if in_group("") => objects::service(object),
        "Namespace" if in_group("") => objects::namespace(object),
        _ => conditions::generic(object),
    }
}

fn terminating(object: &Value) -> Option<Assessment> {
    let deletion = field(object, &["metadata", "deletionTimestamp"]).filter(|v| !v.is_null())?;
    let finalizers: Vec<&str> = field(object, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let since = deletion
        .as_str()
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    let message = if finalizers.is_empty() {
        format!("being deleted{since}")
    } else {
        format!(
            "being deleted{since}; waiting for finalizers: {}",
            finalizers.join(", ")
        )
    };
    Some(Assessment::new(Status::Terminating, message))
}

fn generation_lag(object: &Value) -> Option<Assessment> {
    let generation = int(object, &["metadata", "generation"])?;
    let observed = int(object, &["status", "observedGeneration"])?;
    (generation > observed).then(|| waiting_for_generation(generation))
}

fn waiting_for_generation(generation: i64) -> Assessment {
    Assessment::in_progress(format!(
        "waiting for the controller to observe generation {generation}"
    ))
}

/// The API group of an `apiVersion`: `apps/v1` is `apps`, `v1` is the core
/// group `""`.
fn group_of(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

/// The value at a path of map keys.
fn field<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(key))
}

fn text<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    field(object, path).and_then(Value::as_str)
}

/// An integer field; a whole float (`3.0`) counts, as YAML tools sometimes
/// write one.
fn int(object: &Value, path: &[&str]) -> Option<i64> {
    let v = field(object, path)?;
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn boolean(object: &Value, path: &[&str]) -> bool {
    field(object, path)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
