//! Non-workload kinds with a meaning of "ready": CustomResourceDefinition,
//! PersistentVolumeClaim, Service and Namespace.

use serde_json::Value;

use super::conditions::{self, Truth};
use super::{Assessment, Status, field, text};

/// Current once Established (its custom resources can be created); Failed
/// when the API server rejected its names (they clash with another CRD).
pub(super) fn custom_resource_definition(object: &Value) -> Assessment {
    const KIND: &str = "CustomResourceDefinition";
    if let Some(c) = conditions::find(object, "NamesAccepted")
        && c.status == Truth::False
    {
        return Assessment::failed(format!("{KIND}: names not accepted: {}", c.detail()));
    }
    match conditions::find(object, "Established") {
        Some(c) if c.is_true() => Assessment::current(format!("{KIND}: established")),
        Some(c) => Assessment::in_progress(format!("{KIND}: {}", c.describe())),
        None => Assessment::in_progress(format!("{KIND}: not established yet")),
    }
}

/// Current once bound to a volume.
pub(super) fn persistent_volume_claim(object: &Value) -> Assessment {
    const KIND: &str = "PersistentVolumeClaim";
    match text(object, &["status", "phase"]) {
        Some("Bound") => match text(object, &["spec", "volumeName"]) {
            Some(volume) => Assessment::current(format!("{KIND}: bound to {volume}")),
            None => Assessment::current(format!("{KIND}: bound")),
        },
        Some(phase) => Assessment::in_progress(format!("{KIND}: phase {phase}")),
        None => Assessment::in_progress(format!("{KIND}: not bound yet")),
    }
}

/// A LoadBalancer Service is current once it has an address; other types
/// are current as soon as they exist.
pub(super) fn service(object: &Value) -> Assessment {
    const KIND: &str = "Service";
    let kind = text(object, &["spec", "type"]).unwrap_or("ClusterIP");
    if kind != "LoadBalancer" {
        return Assessment::current(format!("{KIND}: type {kind}"));
    }
    let address = field(object, &["status", "loadBalancer", "ingress"])
        .and_then(Value::as_array)
        .and_then(|list| list.first())
        .map(|first| {
            let pick = |key: &str| {
                first
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            pick("ip")
                .or_else(|| pick("hostname"))
                .unwrap_or("assigned")
                .to_string()
        });
    match address {
        Some(address) => Assessment::current(format!("{KIND}: load balancer at {address}")),
        None => Assessment::in_progress(format!("{KIND}: waiting for a load balancer address")),
    }
}

/// Active is current; a Namespace in phase Terminating is being deleted
/// (its objects first).
pub(super) fn namespace(object: &Value) -> Assessment {
    const KIND: &str = "Namespace";
    match text(object, &["status", "phase"]) {
        Some("Terminating") => Assessment::new(Status::Terminating, format!("{KIND}: terminating")),
        Some("Active") => Assessment::current(format!("{KIND}: active")),
        None => Assessment::current(format!("{KIND}: no status to wait for")),
        Some(phase) => Assessment::in_progress(format!("{KIND}: phase {phase}")),
    }
}
