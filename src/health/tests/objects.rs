use serde_json::{Value, json};

use super::{check, metadata, set};
use crate::health::Status::{Current, Failed, InProgress, Terminating};

fn crd(conditions: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata("certificates.cert-manager.io", None, 1),
        "spec": {
            "group": "cert-manager.io",
            "names": {"kind": "Certificate", "listKind": "CertificateList", "plural": "certificates", "singular": "certificate", "shortNames": ["cert", "certs"]},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
        "status": {
            "acceptedNames": {"kind": "Certificate", "plural": "certificates"},
            "storedVersions": ["v1"],
            "conditions": conditions,
        },
    })
}

#[test]
fn custom_resource_definitions() {
    let names_accepted = json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"});
    let names_conflict = json!({"type": "NamesAccepted", "status": "False", "reason": "MultipleNamesConflict", "message": "\"certs\" is already in use"});
    let established = json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"});
    let not_established = json!({"type": "Established", "status": "False", "reason": "Installing", "message": "the initial names have been accepted"});
    check(vec![
        (
            "established",
            crd(json!([names_accepted, established])),
            Current,
            "CustomResourceDefinition: established",
        ),
        (
            "installing",
            crd(json!([names_accepted, not_established])),
            InProgress,
            "condition Established=False",
        ),
        (
            "no conditions yet",
            crd(json!([])),
            InProgress,
            "not established yet",
        ),
        (
            "names conflict",
            crd(json!([names_conflict, not_established])),
            Failed,
            "names not accepted: \"certs\" is already in use",
        ),
        (
            "being deleted",
            set(
                crd(json!([established])),
                "metadata.deletionTimestamp",
                json!("2025-03-02T08:00:00Z"),
            ),
            Terminating,
            "being deleted since 2025-03-02T08:00:00Z",
        ),
    ]);
}

fn pvc(status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata("data-db-0", Some("shop"), 0),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "linstor",
            "volumeMode": "Filesystem",
        },
        "status": status,
    })
}

#[test]
fn persistent_volume_claims() {
    let bound = set(
        pvc(
            json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}),
        ),
        "spec.volumeName",
        json!("pvc-0b7c1e2a-5f44-4d2e-8f0c-6a7b8c9d0e1f"),
    );
    check(vec![
        (
            "bound",
            bound,
            Current,
            "PersistentVolumeClaim: bound to pvc-0b7c1e2a",
        ),
        (
            "pending",
            pvc(json!({"phase": "Pending"})),
            InProgress,
            "PersistentVolumeClaim: phase Pending",
        ),
        (
            "lost",
            pvc(json!({"phase": "Lost"})),
            InProgress,
            "phase Lost",
        ),
        ("no status", pvc(json!(null)), InProgress, "not bound yet"),
    ]);
}

fn service(kind: &str, status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("ingress-nginx-controller", Some("ingress"), 0),
        "spec": {
            "type": kind,
            "clusterIP": "10.96.14.7",
            "clusterIPs": ["10.96.14.7"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}],
            "selector": {"app.kubernetes.io/name": "ingress-nginx"},
        },
        "status": status,
    })
}

#[test]
fn services() {
    let mut headless = service("ClusterIP", json!({"loadBalancer": {}}));
    headless["spec"]["clusterIP"] = json!("None");
    let mut no_type = service("ClusterIP", json!(null));
    no_type["spec"].as_object_mut().unwrap().remove("type");
    no_type["spec"].as_object_mut().unwrap().remove("clusterIP");
    check(vec![
        (
            "cluster IP",
            service("ClusterIP", json!({"loadBalancer": {}})),
            Current,
            "Service: type ClusterIP",
        ),
        ("headless", headless, Current, "type ClusterIP"),
        ("no type, no cluster IP", no_type, Current, "type ClusterIP"),
        (
            "node port",
            service("NodePort", json!({"loadBalancer": {}})),
            Current,
            "type NodePort",
        ),
        (
            "load balancer with IP",
            service(
                "LoadBalancer",
                json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]}}),
            ),
            Current,
            "Service: load balancer at 203.0.113.10",
        ),
        (
            "load balancer with hostname",
            service(
                "LoadBalancer",
                json!({"loadBalancer": {"ingress": [{"hostname": "a1b2.elb.amazonaws.com"}]}}),
            ),
            Current,
            "at a1b2.elb.amazonaws.com",
        ),
        (
            "load balancer pending",
            service("LoadBalancer", json!({"loadBalancer": {}})),
            InProgress,
            "waiting for a load balancer address",
        ),
        (
            "load balancer empty ingress",
            service("LoadBalancer", json!({"loadBalancer": {"ingress": []}})),
            InProgress,
            "waiting for a load balancer address",
        ),
    ]);
}

fn namespace(status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": set(metadata("shop", None, 0), "labels", json!({"kubernetes.io/metadata.name": "shop"})),
        "spec": {"finalizers": ["kubernetes"]},
        "status": status,
    })
}

#[test]
fn namespaces() {
    let deleting = set(
        set(
            namespace(json!({"phase": "Terminating"})),
            "metadata.deletionTimestamp",
            json!("2025-03-02T08:00:00Z"),
        ),
        "metadata.finalizers",
        json!(["example.com/cleanup"]),
    );
    check(vec![
        (
            "active",
            namespace(json!({"phase": "Active"})),
            Current,
            "Namespace: active",
        ),
        ("not applied yet", namespace(json!(null)), Current, ""),
        (
            "terminating phase",
            namespace(json!({"phase": "Terminating"})),
            Terminating,
            "Namespace: terminating",
        ),
        (
            "deletion requested",
            deleting,
            Terminating,
            "waiting for finalizers: example.com/cleanup",
        ),
    ]);
}

#[test]
fn kinds_are_matched_with_their_group() {
    // A custom resource that happens to be called Service is not a core
    // Service: its Ready condition decides.
    let knative = json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": metadata("hello", Some("default"), 2),
        "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go:latest"}]}}},
        "status": {"observedGeneration": 2, "conditions": [
            {"type": "ConfigurationsReady", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "RevisionMissing", "message": "Configuration \"hello\" does not have any ready Revision."},
            {"type": "RoutesReady", "status": "False", "reason": "RevisionMissing"}
        ]},
    });
    let no_api_version = json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "status": {"phase": "Pending"}});
    check(vec![
        (
            "knative Service",
            knative,
            InProgress,
            "condition Ready=False: Configuration \"hello\" does not have any ready Revision.",
        ),
        (
            "kind alone without apiVersion",
            no_api_version,
            InProgress,
            "PersistentVolumeClaim: phase Pending",
        ),
    ]);
}
