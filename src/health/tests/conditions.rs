use serde_json::{Value, json};

use super::{check, metadata, set};
use crate::health::Status::{Current, Failed, InProgress, Terminating};

/// A Flux HelmRelease with the given conditions, observed at generation 3.
fn helm_release(conditions: Value) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": metadata("podinfo", Some("apps"), 3),
        "spec": {"interval": "10m", "chart": {"spec": {"chart": "podinfo", "version": "6.x", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}},
        "status": {"observedGeneration": 3, "conditions": conditions},
    })
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "observedGeneration": 3, "lastTransitionTime": "2025-03-01T10:05:00Z"})
}

#[test]
fn generic_conditions() {
    let ready = condition(
        "Ready",
        "True",
        "InstallSucceeded",
        "Helm install succeeded for release apps/podinfo.v1 with chart podinfo@6.7.1",
    );
    let not_ready = condition(
        "Ready",
        "False",
        "InstallFailed",
        "Helm install failed for release apps/podinfo with chart podinfo@6.7.1: context deadline exceeded",
    );
    let unknown = condition(
        "Ready",
        "Unknown",
        "Progressing",
        "Fulfilling prerequisites",
    );
    let reconciling = condition(
        "Reconciling",
        "True",
        "Progressing",
        "Running 'install' action with timeout of 5m0s",
    );
    let stalled = condition(
        "Stalled",
        "True",
        "RetriesExceeded",
        "Failed to install after 1 attempt(s)",
    );
    let stale_ready = json!({"type": "Ready", "status": "True", "reason": "UpgradeSucceeded", "message": "done", "observedGeneration": 2});
    let stale_stalled = json!({"type": "Stalled", "status": "True", "reason": "RetriesExceeded", "message": "old", "observedGeneration": 2});
    let no_message = json!({"type": "Ready", "status": "False", "reason": "DependencyNotReady"});
    let bool_status = json!({"type": "Ready", "status": true});
    check(vec![
        (
            "Ready=True",
            helm_release(json!([ready.clone()])),
            Current,
            "condition Ready=True: Helm install succeeded",
        ),
        (
            "Ready=False",
            helm_release(json!([not_ready.clone()])),
            InProgress,
            "condition Ready=False: Helm install failed",
        ),
        (
            "Ready=Unknown",
            helm_release(json!([unknown])),
            InProgress,
            "condition Ready=Unknown: Fulfilling prerequisites",
        ),
        (
            "Ready=False without message",
            helm_release(json!([no_message])),
            InProgress,
            "condition Ready=False: DependencyNotReady",
        ),
        (
            "Reconciling=True wins over Ready",
            helm_release(json!([ready.clone(), reconciling.clone()])),
            InProgress,
            "condition Reconciling=True: Running 'install' action",
        ),
        (
            "Stalled=True",
            helm_release(json!([not_ready.clone(), stalled.clone()])),
            Failed,
            "condition Stalled=True: Failed to install after 1 attempt(s)",
        ),
        (
            "Stalled wins over Reconciling",
            helm_release(json!([reconciling, stalled])),
            Failed,
            "Stalled=True",
        ),
        (
            "Reconciling=False is ignored",
            helm_release(json!([
                ready,
                condition("Reconciling", "False", "Succeeded", "")
            ])),
            Current,
            "Ready=True",
        ),
        (
            "Stalled=False is ignored",
            helm_release(json!([not_ready, condition("Stalled", "False", "", "")])),
            InProgress,
            "Ready=False",
        ),
        (
            "stale Ready",
            helm_release(json!([stale_ready])),
            InProgress,
            "waiting for the controller to observe generation 3",
        ),
        (
            "stale Stalled",
            helm_release(json!([stale_stalled])),
            InProgress,
            "observe generation 3",
        ),
        (
            "boolean status in hand-written YAML",
            helm_release(json!([bool_status])),
            Current,
            "Ready=True",
        ),
        (
            "other conditions only",
            helm_release(json!([condition(
                "Released",
                "True",
                "InstallSucceeded",
                ""
            )])),
            Current,
            "no Ready condition to wait for",
        ),
        (
            "empty conditions",
            helm_release(json!([])),
            Current,
            "no Ready condition to wait for",
        ),
    ]);
}

#[test]
fn objects_without_status() {
    let object = |api_version: &str, kind: &str, namespaced: bool| {
        json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": metadata("platform", namespaced.then_some("shop"), 0),
        })
    };
    let config_map = set(
        object("v1", "ConfigMap", true),
        "data",
        json!({"LOG_LEVEL": "info"}),
    );
    let secret = set(object("v1", "Secret", true), "type", json!("Opaque"));
    let cluster_role = set(
        object("rbac.authorization.k8s.io/v1", "ClusterRole", false),
        "rules",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
    );
    let custom = json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": metadata("selfsigned", None, 1),
        "spec": {"selfSigned": {}},
    });
    let custom_empty_status = set(custom.clone(), "status", json!({}));
    check(vec![
        ("ConfigMap", config_map, Current, "no status to wait for"),
        ("Secret", secret, Current, "no status to wait for"),
        (
            "ServiceAccount",
            object("v1", "ServiceAccount", true),
            Current,
            "no status to wait for",
        ),
        (
            "ClusterRole",
            cluster_role,
            Current,
            "no status to wait for",
        ),
        (
            "RoleBinding",
            object("rbac.authorization.k8s.io/v1", "RoleBinding", true),
            Current,
            "",
        ),
        (
            "custom resource without status",
            custom,
            Current,
            "no status to wait for",
        ),
        (
            "custom resource with empty status",
            custom_empty_status,
            Current,
            "no Ready condition to wait for",
        ),
    ]);
}

#[test]
fn terminating_and_generation() {
    let certificate = |generation: i64, observed: Value| {
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": metadata("shop-tls", Some("shop"), generation),
            "spec": {"secretName": "shop-tls", "dnsNames": ["shop.example.com"], "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}},
            "status": {"observedGeneration": observed, "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired", "observedGeneration": 2}
            ]},
        })
    };
    let deleting = set(
        certificate(2, json!(2)),
        "metadata.deletionTimestamp",
        json!("2025-03-02T08:00:00Z"),
    );
    let deleting_with_finalizers = set(
        deleting.clone(),
        "metadata.finalizers",
        json!(["finalizer.example.com/a", "finalizer.example.com/b"]),
    );
    let mut no_observed = certificate(2, json!(null));
    no_observed["status"]
        .as_object_mut()
        .unwrap()
        .remove("observedGeneration");
    check(vec![
        ("observed", certificate(2, json!(2)), Current, "Ready=True"),
        (
            "generation ahead",
            certificate(3, json!(2)),
            InProgress,
            "waiting for the controller to observe generation 3",
        ),
        (
            "observedGeneration absent",
            no_observed,
            Current,
            "Ready=True",
        ),
        (
            "deletionTimestamp",
            deleting,
            Terminating,
            "being deleted since 2025-03-02T08:00:00Z",
        ),
        (
            "deletion wins over generation lag",
            set(
                deleting_with_finalizers.clone(),
                "metadata.generation",
                json!(9),
            ),
            Terminating,
            "being deleted",
        ),
        (
            "finalizers named",
            deleting_with_finalizers,
            Terminating,
            "waiting for finalizers: finalizer.example.com/a, finalizer.example.com/b",
        ),
        (
            "null deletionTimestamp",
            set(
                certificate(2, json!(2)),
                "metadata.deletionTimestamp",
                json!(null),
            ),
            Current,
            "Ready=True",
        ),
    ]);
}
