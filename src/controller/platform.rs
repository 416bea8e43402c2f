//! The `Platform` custom resource (`platforms.distro.dev/v1alpha1`): what
//! the controller reconciles, and the status it reports.

// Errors keep the whole `kube::Error` for its context.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::apply::FIELD_MANAGER;
use crate::model::parse_duration;
use crate::status::{Condition, ConditionStatus, Standing, conditions};

pub const GROUP: &str = "distro.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "Platform";
pub const PLURAL: &str = "platforms";
pub const API_VERSION: &str = "distro.dev/v1alpha1";
/// The CustomResourceDefinition, installed by `distro controller` itself.
pub const CRD_YAML: &str = include_str!("platform-crd.yaml");
/// The annotation that asks for an immediate reconcile (Flux's semantics:
/// any new value is handled once, and recorded in `lastHandledReconcileAt`).
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.distro.dev/requestedAt";

/// Errors reading or writing Platform objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Platform/{namespace}/{name}: {action} failed: {source}")]
    Api {
        namespace: String,
        name: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("Platform/{namespace}/{name}: invalid spec: {message}")]
    Spec {
        namespace: String,
        name: String,
        message: String,
    },
}

/// `spec`: every field but `source` has a default (in the CRD's schema,
/// repeated here for objects written before a default existed).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    pub source: SourceSpec,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_interval")]
    pub interval: String,
    #[serde(default = "default_timeout")]
    pub timeout: String,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default = "yes")]
    pub prune: bool,
    #[serde(default)]
    pub webhook: Option<WebhookSpec>,
    #[serde(default)]
    pub retry: RetrySpec,
    /// Apply as this ServiceAccount of the Platform's namespace.
    #[serde(default)]
    pub service_account_name: Option<String>,
}

/// `spec.retry`: Argo's retryStrategy in spirit.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrySpec {
    #[serde(default = "default_retry_limit")]
    pub limit: u32,
    #[serde(default = "default_backoff")]
    pub backoff: String,
    #[serde(default = "default_max_backoff")]
    pub max_backoff: String,
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            limit: default_retry_limit(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

impl RetrySpec {
    /// The delay before retry number `failures` (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let base = parse_duration(&self.backoff).unwrap_or(Duration::from_secs(5));
        let max = parse_duration(&self.max_backoff).unwrap_or(Duration::from_secs(300));
        let exp = failures.saturating_sub(1).min(20);
        base.saturating_mul(1u32 << exp).min(max)
    }
}

fn default_retry_limit() -> u32 {
    5
}
fn default_backoff() -> String {
    "5s".into()
}
fn default_max_backoff() -> String {
    "5m".into()
}

fn default_path() -> String {
    ".".into()
}
fn default_interval() -> String {
    "1m".into()
}
fn default_timeout() -> String {
    "5m".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    #[serde(default)]
    pub git: Option<GitSpec>,
    #[serde(default)]
    pub oci: Option<OciSpec>,
}

/// `spec.source.oci`: an artifact pushed by `distro push`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciSpec {
    /// `oci://host[:port]/repository`.
    pub url: String,
    #[serde(default, rename = "ref")]
    pub reference: Option<OciRefSpec>,
    /// A `kubernetes.io/dockerconfigjson` Secret, or one with `username`
    /// and `password`, in the Platform's namespace.
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
    /// Plain HTTP to a registry that is not on loopback.
    #[serde(default)]
    pub insecure: bool,
}

/// `spec.source.oci.ref`: one of tag, semver or digest; the tag `latest`
/// when empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciRefSpec {
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub semver: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
}

impl SourceSpec {
    /// The source's URL as shown (Git URLs without credentials).
    pub fn display_url(&self) -> String {
        match (&self.git, &self.oci) {
            (Some(git), _) => crate::source::git::display_url(&git.url),
            (None, Some(oci)) => oci.url.clone(),
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitSpec {
    pub url: String,
    #[serde(default, rename = "ref")]
    pub reference: Option<RefSpec>,
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefSpec {
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub semver: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LocalRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub secret_ref: LocalRef,
}

/// Why the Platform's conditions have their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlatformReason {
    /// The revision was applied and every release is Ready.
    ReconciliationSucceeded,
    /// A reconcile is under way.
    Progressing,
    /// The source could not be fetched (unreachable, credentials, ref).
    FetchFailed,
    /// The revision does not validate; it was not applied.
    ValidationFailed,
    /// The revision was applied but some releases are not Ready.
    ReleasesNotReady,
    /// `spec.suspend` is set.
    Suspended,
    /// The revision failed `spec.retry.limit` times; it is not retried
    /// until a new revision or a requested reconcile.
    RetriesExhausted,
    /// A reason of another version of distro.
    #[serde(other)]
    Unknown,
}

impl std::fmt::Display for PlatformReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl PlatformReason {
    /// The conditions a Platform with this reason has. A suspended Platform
    /// keeps the Ready status it had (`last_ready`).
    pub fn standing(self, last_ready: ConditionStatus) -> Standing {
        let (ready, reconciling, stalled) = match self {
            PlatformReason::ReconciliationSucceeded => (ConditionStatus::True, false, false),
            PlatformReason::Progressing => (ConditionStatus::Unknown, true, false),
            PlatformReason::FetchFailed | PlatformReason::ReleasesNotReady => {
                (ConditionStatus::False, false, false)
            }
            // Retrying the same revision cannot help; a new commit can.
            PlatformReason::ValidationFailed | PlatformReason::RetriesExhausted => {
                (ConditionStatus::False, false, true)
            }
            PlatformReason::Suspended => (last_ready, false, false),
            PlatformReason::Unknown => (ConditionStatus::Unknown, false, false),
        };
        Standing {
            ready,
            reconciling,
            stalled,
        }
    }
}

/// `status.releases`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ReleaseCounts {
    pub total: u32,
    pub ready: u32,
}

/// `status`, as read and as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition<PlatformReason>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// Failed attempts at `last_attempted_revision`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<ReleaseCounts>,
}

impl PlatformStatus {
    /// The `Ready` condition, if any.
    pub fn ready(&self) -> Option<&Condition<PlatformReason>> {
        self.conditions.iter().find(|c| c.type_ == "Ready")
    }

    /// Sets the conditions for `reason`, keeping transition times of those
    /// whose status holds.
    pub fn set(&mut self, reason: PlatformReason, message: &str, generation: Option<i64>) {
        let last_ready = self
            .ready()
            .map(|c| c.status)
            .unwrap_or(ConditionStatus::Unknown);
        self.conditions = conditions(
            reason,
            reason.standing(last_ready),
            message,
            generation,
            &self.conditions,
            &crate::status::now(),
        );
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One Platform object, read.
#[derive(Debug, Clone)]
pub struct Platform {
    pub namespace: String,
    pub name: String,
    pub generation: Option<i64>,
    pub uid: Option<String>,
    /// `reconcile.distro.dev/requestedAt`, if set.
    pub requested_at: Option<String>,
    pub spec: PlatformSpec,
    pub status: PlatformStatus,
}

impl Platform {
    /// Reads a Platform from its object.
    ///
    /// # Errors
    /// The spec does not have the Platform's shape.
    pub fn from_object(obj: &DynamicObject) -> Result<Self, Error> {
        let namespace = obj.metadata.namespace.clone().unwrap_or_default();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let spec_error = |message: String| Error::Spec {
            namespace: namespace.clone(),
            name: name.clone(),
            message,
        };
        let spec: PlatformSpec =
            serde_json::from_value(obj.data.get("spec").cloned().unwrap_or(Value::Null))
                .map_err(|e| spec_error(e.to_string()))?;
        // A status written by another version is rewritten; never fatal.
        let status: PlatformStatus = obj
            .data
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default();
        Ok(Platform {
            requested_at: obj
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REQUESTED_AT_ANNOTATION))
                .cloned(),
            generation: obj.metadata.generation,
            uid: obj.metadata.uid.clone(),
            namespace,
            name,
            spec,
            status,
        })
    }

    /// `spec.interval`, parsed (the schema's pattern guarantees it parses;
    /// a value that does not gives the default).
    pub fn interval(&self) -> Duration {
        parse_duration(&self.spec.interval).unwrap_or(Duration::from_secs(60))
    }

    /// `spec.timeout`, parsed.
    pub fn timeout(&self) -> Duration {
        parse_duration(&self.spec.timeout).unwrap_or(Duration::from_secs(300))
    }
}

/// The Platform resource.
pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// The API of Platforms in `namespace`, or in every namespace.
pub fn api(client: &kube::Client, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource()),
        None => Api::all_with(client.clone(), &resource()),
    }
}

/// The CRD as an object to apply.
pub fn crd_object() -> Value {
    serde_yaml_ng::from_str(CRD_YAML).unwrap_or(Value::Null)
}

/// Writes `status` unless it equals what the object has.
///
/// # Errors
/// The API server rejects the write.
pub async fn write_status(
    client: &kube::Client,
    platform: &Platform,
    status: &PlatformStatus,
) -> Result<(), Error> {
    if *status == platform.status {
        return Ok(());
    }
    let body = json!({"apiVersion": API_VERSION, "kind": KIND, "status": status});
    api(client, Some(&platform.namespace))
        .patch_status(
            &platform.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| Error::Api {
            namespace: platform.namespace.clone(),
            name: platform.name.clone(),
            action: "status update",
            source,
        })?;
    Ok(())
}

/// Merges `patch` into the Platform (used by `distro reconcile`, `suspend`
/// and `resume`, which change one field and leave the rest to its owner).
///
/// # Errors
/// The Platform does not exist or the API server rejects the change.
pub async fn merge(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Platform, Error> {
    let obj = api(client, Some(namespace))
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::Api {
            namespace: namespace.into(),
            name: name.into(),
            action: "patch",
            source,
        })?;
    Platform::from_object(&obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_the_source() {
        let spec: PlatformSpec =
            serde_json::from_value(json!({"source": {"git": {"url": "git://127.0.0.1/p"}}}))
                .unwrap();
        assert_eq!(spec.path, ".");
        assert_eq!(spec.interval, "1m");
        assert_eq!(spec.timeout, "5m");
        assert!(spec.prune && !spec.suspend && spec.webhook.is_none());
        assert_eq!(spec.retry.limit, 5);
    }

    #[test]
    fn an_oci_source_parses() {
        let spec: PlatformSpec = serde_json::from_value(json!({"source": {"oci": {
            "url": "oci://127.0.0.1:5000/p",
            "ref": {"semver": "^1"},
            "secretRef": {"name": "pull"}
        }}}))
        .unwrap();
        let oci = spec.source.oci.as_ref().unwrap();
        assert_eq!(
            oci.reference.as_ref().unwrap().semver.as_deref(),
            Some("^1")
        );
        assert!(!oci.insecure);
        assert_eq!(spec.source.display_url(), "oci://127.0.0.1:5000/p");
    }

    #[test]
    fn retry_delays_double_up_to_the_maximum() {
        let retry = RetrySpec {
            limit: 3,
            backoff: "1s".into(),
            max_backoff: "5s".into(),
        };
        assert_eq!(retry.delay(1), Duration::from_secs(1));
        assert_eq!(retry.delay(2), Duration::from_secs(2));
        assert_eq!(retry.delay(3), Duration::from_secs(4));
        assert_eq!(retry.delay(4), Duration::from_secs(5));
        assert_eq!(retry.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn the_crd_parses_and_names_the_resource() {
        let crd = crd_object();
        assert_eq!(crd["metadata"]["name"], "platforms.distro.dev");
        assert_eq!(crd["spec"]["names"]["kind"], KIND);
    }

    #[test]
    fn suspended_keeps_the_ready_status() {
        let mut status = PlatformStatus::default();
        status.set(PlatformReason::ReconciliationSucceeded, "ok", Some(1));
        status.set(PlatformReason::Suspended, "suspended", Some(2));
        let ready = status.ready().unwrap();
        assert_eq!(ready.status, ConditionStatus::True);
        assert_eq!(ready.reason, PlatformReason::Suspended);
        status.set(PlatformReason::ValidationFailed, "bad", Some(3));
        assert!(status.conditions.iter().any(|c| c.type_ == "Stalled"));
    }
}
